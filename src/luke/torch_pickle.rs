//! Reads the tensors of a `torch.save` zip archive (`pytorch_model.bin`), the only format most
//! published LUKE checkpoints ship.
//!
//! The archive holds `<name>/data.pkl`, a pickle of the state dict whose tensors point by key at
//! raw little-endian storages `<name>/data/<key>`. The pickle is run on a small stack machine
//! that knows the opcodes `torch.save` emits (protocols 2–4) and the handful of callables a state
//! dict names; anything else is an error naming the opcode or callable, never code execution.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// A tensor by name: (name, shape, values as f32).
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Element type of a storage, from its class name (`torch.FloatStorage` …).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StorageDtype {
    F32,
    F16,
    BF16,
    F64,
    I64,
}

impl StorageDtype {
    fn from_class(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "DoubleStorage" => Self::F64,
            "LongStorage" => Self::I64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Self::F16 | Self::BF16 => 2,
            Self::F32 => 4,
            Self::F64 | Self::I64 => 8,
        }
    }

    /// Element `i` of a little-endian storage as f32.
    fn read(self, bytes: &[u8], i: usize) -> f32 {
        let b = &bytes[i * self.size()..(i + 1) * self.size()];
        match self {
            Self::F32 => f32::from_le_bytes(fixed(b)),
            Self::F16 => half::f16::from_le_bytes(fixed(b)).to_f32(),
            Self::BF16 => half::bf16::from_le_bytes(fixed(b)).to_f32(),
            Self::F64 => f64::from_le_bytes(fixed(b)) as f32,
            Self::I64 => i64::from_le_bytes(fixed(b)) as f32,
        }
    }
}

/// The first `N` bytes of `b` as an array; callers pass slices cut to exactly `N` bytes.
fn fixed<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}

/// A tensor as the pickle describes it: a view into a storage.
#[derive(Clone, Debug)]
struct TensorRef {
    storage: String,
    dtype: StorageDtype,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

#[derive(Clone, Debug)]
enum Value {
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    Storage(String, StorageDtype),
    Tensor(TensorRef),
    /// Anything built by a callable tsumugi does not need (e.g. metadata objects).
    Opaque,
    Mark,
}

/// Every tensor in the archive as (shape, f32 values), by state-dict name.
pub fn read_torch_zip(path: &Path) -> Result<Vec<NamedTensor>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        anyhow!(
            "{}: not a torch zip archive ({e}); checkpoints saved before torch 1.6 use a legacy format \
             — re-save them with torch.save or convert to safetensors",
            path.display()
        )
    })?;
    let pkl_name = (0..zip.len())
        .filter_map(|i| zip.name_for_index(i).map(str::to_string))
        .find(|n| n.ends_with("data.pkl"))
        .ok_or_else(|| anyhow!("{}: no data.pkl in the archive", path.display()))?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let mut pickle = Vec::new();
    zip.by_name(&pkl_name)
        .and_then(|mut f| f.read_to_end(&mut pickle).map_err(Into::into))
        .with_context(|| format!("{}: reading {pkl_name} (is the file damaged?)", path.display()))?;
    let root = run_pickle(&pickle).with_context(|| format!("{}: cannot read {pkl_name}", path.display()))?;
    let Value::Dict(entries) = root else {
        bail!("{}: the pickle is not a state dict", path.display())
    };
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let (Value::Str(name), Value::Tensor(t)) = (key, value) else {
            continue;
        };
        if !storages.contains_key(&t.storage) {
            let member = format!("{prefix}data/{}", t.storage);
            let mut bytes = Vec::new();
            zip.by_name(&member)
                .with_context(|| format!("{}: tensor {name} needs missing storage {member}", path.display()))?
                .read_to_end(&mut bytes)
                .with_context(|| format!("{}: reading {member} (is the file damaged?)", path.display()))?;
            storages.insert(t.storage.clone(), bytes);
        }
        let bytes = &storages[&t.storage];
        let values = gather(&t, bytes).with_context(|| format!("{}: tensor {name}", path.display()))?;
        out.push((name, t.shape, values));
    }
    Ok(out)
}

/// Copies a (possibly strided) view out of its storage, checking every index stays inside.
fn gather(t: &TensorRef, bytes: &[u8]) -> Result<Vec<f32>> {
    let count: usize = t.shape.iter().product();
    let available = bytes.len() / t.dtype.size();
    let last = t.offset
        + t.shape
            .iter()
            .zip(&t.stride)
            .map(|(&n, &s)| n.saturating_sub(1) * s)
            .sum::<usize>();
    if count > 0 && last >= available {
        bail!("view reaches element {last} of a storage with {available}");
    }
    let mut out = Vec::with_capacity(count);
    let mut index = vec![0usize; t.shape.len()];
    for _ in 0..count {
        let at = t.offset + index.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
        out.push(t.dtype.read(bytes, at));
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(out)
}

fn usize_list(v: &Value) -> Result<Vec<usize>> {
    match v {
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|x| match x {
                Value::Int(n) if *n >= 0 => Ok(*n as usize),
                other => bail!("expected a non-negative integer, found {other:?}"),
            })
            .collect(),
        other => bail!("expected a tuple of integers, found {other:?}"),
    }
}

/// Applies a callable from a GLOBAL to its arguments (REDUCE).
fn reduce(callable: Value, args: Value) -> Result<Value> {
    let Value::Global(module, name) = &callable else {
        return Ok(Value::Opaque);
    };
    let args = match args {
        Value::Tuple(a) => a,
        _ => bail!("REDUCE arguments are not a tuple"),
    };
    Ok(match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") => Value::Dict(Vec::new()),
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            let [Value::Storage(key, dtype), Value::Int(offset), shape, stride, ..] = args.as_slice() else {
                bail!("unexpected _rebuild_tensor arguments {args:?}")
            };
            Value::Tensor(TensorRef {
                storage: key.clone(),
                dtype: *dtype,
                offset: *offset as usize,
                shape: usize_list(shape)?,
                stride: usize_list(stride)?,
            })
        }
        ("torch._utils", "_rebuild_parameter") => args.into_iter().next().unwrap_or(Value::None),
        _ => Value::Opaque,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| anyhow!("pickle ends early at byte {}", self.at))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(fixed(self.take(4)?)))
    }
    fn line(&mut self) -> Result<String> {
        let rest = &self.bytes[self.at..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| anyhow!("unterminated GLOBAL"))?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.at += n + 1;
        Ok(s)
    }
    fn string(&mut self, n: usize) -> Result<Value> {
        Ok(Value::Str(String::from_utf8_lossy(self.take(n)?).into_owned()))
    }
}

fn pop(stack: &mut Vec<Value>) -> Result<Value> {
    stack.pop().ok_or_else(|| anyhow!("pickle stack underflow"))
}

/// Pops everything above the topmost MARK.
fn pop_mark(stack: &mut Vec<Value>) -> Result<Vec<Value>> {
    let at = stack
        .iter()
        .rposition(|v| matches!(v, Value::Mark))
        .ok_or_else(|| anyhow!("no MARK"))?;
    let items = stack.split_off(at + 1);
    stack.pop();
    Ok(items)
}

fn push_items(target: &mut Value, items: Vec<Value>) -> Result<()> {
    match target {
        Value::List(l) => l.extend(items),
        Value::Dict(d) => {
            if !items.len().is_multiple_of(2) {
                bail!("SETITEMS with an odd number of values");
            }
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                d.push((k, v));
            }
        }
        Value::Opaque => {}
        other => bail!("cannot add items to {other:?}"),
    }
    Ok(())
}

fn run_pickle(bytes: &[u8]) -> Result<Value> {
    let mut r = Reader { bytes, at: 0 };
    let mut stack: Vec<Value> = Vec::new();
    let mut memo: HashMap<u32, Value> = HashMap::new();
    loop {
        let op = r.u8()?;
        match op {
            0x80 => {
                r.u8()?;
            } // PROTO
            0x95 => {
                r.take(8)?;
            } // FRAME
            b'.' => return pop(&mut stack),
            b'}' => stack.push(Value::Dict(Vec::new())),
            b']' => stack.push(Value::List(Vec::new())),
            b')' => stack.push(Value::Tuple(Vec::new())),
            b'(' => stack.push(Value::Mark),
            b'N' => stack.push(Value::None),
            0x88 => stack.push(Value::Bool),
            0x89 => stack.push(Value::Bool),
            b'K' => stack.push(Value::Int(r.u8()? as i64)),
            b'M' => stack.push(Value::Int(u16::from_le_bytes(fixed(r.take(2)?)) as i64)),
            b'J' => stack.push(Value::Int(r.u32()? as i32 as i64)),
            0x8a => {
                let n = r.u8()? as usize;
                let b = r.take(n)?;
                let mut v: i64 = 0;
                for (i, &x) in b.iter().enumerate().take(8) {
                    v |= (x as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Value::Int(v));
            } // LONG1
            b'G' => {
                r.take(8)?;
                stack.push(Value::Float);
            }
            b'X' => {
                let n = r.u32()? as usize;
                stack.push(r.string(n)?);
            }
            0x8c => {
                let n = r.u8()? as usize;
                stack.push(r.string(n)?);
            } // SHORT_BINUNICODE
            b'C' => {
                let n = r.u8()? as usize;
                r.take(n)?;
                stack.push(Value::Opaque);
            } // SHORT_BINBYTES
            b'B' => {
                let n = r.u32()? as usize;
                r.take(n)?;
                stack.push(Value::Opaque);
            } // BINBYTES
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(Value::Global(module, name));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (module, name) {
                    (Value::Str(m), Value::Str(n)) => stack.push(Value::Global(m, n)),
                    _ => bail!("STACK_GLOBAL without strings"),
                }
            }
            b'q' => {
                let k = r.u8()? as u32;
                memo.insert(
                    k,
                    stack.last().cloned().ok_or_else(|| anyhow!("BINPUT on empty stack"))?,
                );
            }
            b'r' => {
                let k = r.u32()?;
                memo.insert(
                    k,
                    stack.last().cloned().ok_or_else(|| anyhow!("BINPUT on empty stack"))?,
                );
            }
            0x94 => {
                let k = memo.len() as u32;
                memo.insert(
                    k,
                    stack.last().cloned().ok_or_else(|| anyhow!("MEMOIZE on empty stack"))?,
                );
            }
            b'h' => {
                let k = r.u8()? as u32;
                stack.push(
                    memo.get(&k)
                        .cloned()
                        .ok_or_else(|| anyhow!("BINGET of unknown memo {k}"))?,
                );
            }
            b'j' => {
                let k = r.u32()?;
                stack.push(
                    memo.get(&k)
                        .cloned()
                        .ok_or_else(|| anyhow!("BINGET of unknown memo {k}"))?,
                );
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    bail!("pickle stack underflow");
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Value::Tuple(items));
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                let Value::Tuple(parts) = pid else {
                    bail!("persistent id is not a tuple")
                };
                let storage = match parts.as_slice() {
                    [Value::Str(kind), Value::Global(_, class), Value::Str(key), ..] if kind == "storage" => {
                        let dtype = StorageDtype::from_class(class)
                            .ok_or_else(|| anyhow!("unsupported storage type {class}"))?;
                        Value::Storage(key.clone(), dtype)
                    }
                    other => bail!("unsupported persistent id {other:?}"),
                };
                stack.push(storage);
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                stack.push(reduce(callable, args)?);
            }
            b'b' => {
                pop(&mut stack)?; // BUILD: object state (e.g. the state dict's `_metadata`) is not needed
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                push_items(
                    stack.last_mut().ok_or_else(|| anyhow!("SETITEM without a dict"))?,
                    vec![k, v],
                )?;
            }
            b'u' | b'e' => {
                let items = pop_mark(&mut stack)?;
                push_items(
                    stack.last_mut().ok_or_else(|| anyhow!("SETITEMS without a target"))?,
                    items,
                )?;
            }
            b'a' => {
                let v = pop(&mut stack)?;
                push_items(
                    stack.last_mut().ok_or_else(|| anyhow!("APPEND without a list"))?,
                    vec![v],
                )?;
            }
            other => bail!("unsupported pickle opcode 0x{other:02x} at byte {}", r.at - 1),
        }
    }
}
