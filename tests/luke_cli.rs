//! `tsumugi luke …` end to end on the tiny fixture checkpoints: every command, JSON and JSONL
//! output, and every kind of bad input ending in a clear error (exit 1, no panic).

mod common;

use common::{fails, ok, run, stderr};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/luke/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn golden_logits(name: &str, example: usize) -> Vec<f64> {
    let g: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}/golden.json", fixture(name))).unwrap()).unwrap();
    g["examples"][example]["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-4)
}

/// A writable copy of a fixture checkpoint.
fn copy_fixture(name: &str, into: &Path) -> PathBuf {
    let dest = into.join(name);
    std::fs::create_dir_all(&dest).unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
    }
    dest
}

fn edit_config(dir: &Path, key: &str, value: Value) {
    let path = dir.join("config.json");
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cfg[key] = value;
    std::fs::write(&path, cfg.to_string()).unwrap();
}

#[test]
fn the_articles_relation_example_runs_as_written() {
    let model = fixture("pair_dense_bin");
    let args = [
        "luke",
        "classify-pair",
        "--model",
        &model,
        "--text",
        "Taro belong to Keio university",
        "--span",
        "0:3",
        "--span",
        "15:29",
    ];
    let text = ok(&args);
    assert!(text.contains("per:employee_of"), "{text}");
    // the article's spans are one character short, and the output shows it
    assert!(text.starts_with("[Tar] [Keio universit]\t"), "{text}");
    let json: Value = serde_json::from_str(&ok(&[&args[..], &["--json"]].concat())).unwrap();
    assert_eq!(json["mentions"], serde_json::json!(["Tar", "Keio universit"]));
    assert!(
        close(&floats(&json["logits"]), &golden_logits("pair_dense_bin", 0)),
        "{json}"
    );
    let p = floats(&json["probabilities"]);
    assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert_eq!(json["label"], json["labels"][json["index"].as_u64().unwrap() as usize]);
}

#[test]
fn every_command_prints_its_result() {
    let spans = ok(&[
        "luke",
        "classify-spans",
        "--model",
        &fixture("spans_noaware_bin"),
        "--text",
        "Keio university employs Taro and Hanako in Tokyo.",
        "--span",
        "0:15",
        "--span",
        "43:48",
    ]);
    assert_eq!(spans.lines().count(), 2, "{spans}");
    assert!(spans.contains("Keio university") && spans.contains("Tokyo"), "{spans}");
    let entity = ok(&[
        "luke",
        "classify-entity",
        "--model",
        &fixture("entity_nodense_safetensors"),
        "--text",
        "Beyoncé lives in Los Angeles.",
        "--span",
        "0:7",
    ]);
    assert!(!entity.trim().is_empty());
    let seq = ok(&[
        "luke",
        "classify",
        "--model",
        &fixture("sequence_bin"),
        "--text",
        "The quick brown fox",
    ]);
    assert!(seq.starts_with("negative") || seq.starts_with("positive"), "{seq}");
    let choice: Value = serde_json::from_str(&ok(&[
        "luke",
        "choose",
        "--model",
        &fixture("choice_safetensors"),
        "--text",
        "Where do people keep books?",
        "--choice",
        "At the library",
        "--choice",
        "on a shelf",
        "--choice",
        "in a bag",
        "--choice",
        "the lazy dog",
        "--json",
    ]))
    .unwrap();
    assert!(
        close(&floats(&choice["logits"]), &golden_logits("choice_safetensors", 0)),
        "{choice}"
    );
    assert_eq!(choice["answer"], "on a shelf");
    let enc: Value = serde_json::from_str(&ok(&[
        "luke",
        "encode",
        "--model",
        &fixture("sequence_bin"),
        "--text",
        "Beyoncé lives in Los Angeles.",
        "--span",
        "0:7",
        "--span",
        "17:28",
        "--entity",
        "Beyoncé",
        "--entity",
        "Los Angeles",
        "--json",
        "--all-layers",
    ]))
    .unwrap();
    assert_eq!(
        enc["word_hidden_states"].as_array().unwrap().len(),
        3,
        "embeddings + 2 layers"
    );
    assert_eq!(enc["entity_ids"], serde_json::json!([7, 8]));
    assert_eq!(enc["entity_hidden_states"][2].as_array().unwrap().len(), 2);
}

/// mLUKE / luke-japanese layout: the JCommonsenseQA-shaped choice and a relation in Japanese,
/// each equal to what transformers' MLukeTokenizer and model gave.
#[test]
fn sentencepiece_checkpoints_run_like_the_japanese_articles() {
    let mut args = vec![
        "luke".to_string(),
        "choose".into(),
        "--model".into(),
        fixture("sentencepiece_choice_safetensors"),
        "--text".into(),
        "本を置く場所はどこですか？".into(),
    ];
    for choice in ["図書館", "本棚", "鞄の中", "大阪の大学", "ルーク"] {
        args.extend(["--choice".to_string(), choice.to_string()]);
    }
    args.push("--json".into());
    let json: Value = serde_json::from_str(&ok(&args.iter().map(String::as_str).collect::<Vec<_>>())).unwrap();
    assert!(
        close(
            &floats(&json["logits"]),
            &golden_logits("sentencepiece_choice_safetensors", 0)
        ),
        "{json}"
    );
    let pair: Value = serde_json::from_str(&ok(&[
        "luke",
        "classify-pair",
        "--model",
        &fixture("sentencepiece_pair_safetensors"),
        "--text",
        "花子は大阪で生まれ、京都の大学に通った。",
        "--span",
        "0:2",
        "--span",
        "3:5",
        "--json",
    ]))
    .unwrap();
    assert!(
        close(
            &floats(&pair["logits"]),
            &golden_logits("sentencepiece_pair_safetensors", 1)
        ),
        "{pair}"
    );
}

/// Open Entity-style typing: independent labels, a sigmoid each, every label past 0.5 predicted;
/// from the flag or from `problem_type` in config.json.
#[test]
fn multi_label_heads_predict_every_label_past_one_half() {
    let tmp = tempfile::tempdir().unwrap();
    let flagged = fixture("entity_nodense_safetensors");
    let configured = copy_fixture("entity_nodense_safetensors", tmp.path());
    edit_config(
        &configured,
        "problem_type",
        serde_json::json!("multi_label_classification"),
    );
    let want_logits = golden_logits("entity_nodense_safetensors", 0);
    let want_sigmoid: Vec<f64> = want_logits.iter().map(|x| 1.0 / (1.0 + (-x).exp())).collect();
    for (model, extra) in [
        (flagged.as_str(), Some("--multi-label")),
        (configured.to_str().unwrap(), None),
    ] {
        let mut args = vec![
            "luke",
            "classify-entity",
            "--model",
            model,
            "--text",
            "Beyoncé lives in Los Angeles.",
            "--span",
            "0:7",
            "--json",
        ];
        args.extend(extra);
        let json: Value = serde_json::from_str(&ok(&args)).unwrap();
        assert!(close(&floats(&json["probabilities"]), &want_sigmoid), "{json}");
        let labels = json["labels"].as_array().unwrap();
        let want: Vec<&Value> = (0..labels.len())
            .filter(|&i| want_logits[i] > 0.0)
            .map(|i| &labels[i])
            .collect();
        assert!(
            !want.is_empty() && want.len() < labels.len(),
            "the fixture should split the labels"
        );
        assert_eq!(json["predicted"].as_array().unwrap().iter().collect::<Vec<_>>(), want);
    }
    fails(
        &[
            "luke",
            "choose",
            "--model",
            &fixture("choice_safetensors"),
            "--text",
            "a",
            "--choice",
            "b",
            "--multi-label",
        ],
        &["--multi-label"],
    );
}

/// JNLI / JSTS shape: `classify --pair` reads `<s> premise </s></s> hypothesis </s>`, as
/// transformers encodes a text pair; from the flag or a JSONL "pair" field.
#[test]
fn sentence_pairs_classify_like_transformers() {
    let model = fixture("sequence_bin");
    let (premise, hypothesis) = ("Taro belong to Keio university", "Keio university employs Taro.");
    let args = [
        "luke", "classify", "--model", &model, "--text", premise, "--pair", hypothesis, "--json",
    ];
    let json: Value = serde_json::from_str(&ok(&args)).unwrap();
    assert!(
        close(&floats(&json["logits"]), &golden_logits("sequence_bin", 4)),
        "{json}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("pairs.jsonl");
    let line = serde_json::json!({"text": premise, "pair": hypothesis});
    std::fs::write(&input, format!("{line}\n{line}\n")).unwrap();
    let out = ok(&[
        "luke",
        "classify",
        "--model",
        &model,
        "--input",
        input.to_str().unwrap(),
    ]);
    for line in out.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(close(&floats(&v["logits"]), &golden_logits("sequence_bin", 4)), "{v}");
    }

    let encoded: Value = serde_json::from_str(&ok(&[
        "luke", "encode", "--model", &model, "--text", premise, "--pair", hypothesis, "--json",
    ]))
    .unwrap();
    assert_eq!(
        encoded["input_ids"].as_array().unwrap().len(),
        14,
        "{}",
        encoded["input_ids"]
    );

    let pair_model = fixture("pair_dense_bin");
    let bad: [(&[&str], &str); 5] = [
        (
            &["luke", "classify", "--model", &model, "--text", premise, "--pair", " "],
            "non-empty",
        ),
        (
            &[
                "luke", "classify", "--model", &model, "--text", premise, "--pair", "x", "--span", "0:4",
            ],
            "no spans",
        ),
        (
            &[
                "luke",
                "classify-pair",
                "--model",
                &pair_model,
                "--text",
                premise,
                "--pair",
                "x",
                "--span",
                "0:3",
                "--span",
                "15:29",
            ],
            "`luke classify` and `luke encode`",
        ),
        (
            &[
                "luke",
                "choose",
                "--model",
                &fixture("choice_safetensors"),
                "--text",
                "q",
                "--pair",
                "x",
                "--choice",
                "a",
                "--choice",
                "b",
            ],
            "--choice",
        ),
        (
            &[
                "luke",
                "choose",
                "--model",
                &fixture("choice_safetensors"),
                "--text",
                "q",
                "--choice",
                "a",
                "--choice",
                "",
            ],
            "choice 1 is empty",
        ),
    ];
    for (args, needle) in bad {
        fails(args, &[needle]);
    }
    // a checkpoint run with another head's command is told the command for its own head
    fails(
        &[
            "luke",
            "classify-pair",
            "--model",
            &fixture("choice_safetensors"),
            "--text",
            "Tar went to Keio",
            "--span",
            "0:3",
            "--span",
            "12:16",
        ],
        &["run it with `tsumugi luke choose`"],
    );
}

/// JGLUE's JCommonsenseQA files go to `luke choose` as they are; with labels the run ends with
/// the accuracy, as the article reports LUKE's.
#[test]
fn commonsense_qa_rows_are_answered_and_scored() {
    let model = fixture("choice_safetensors");
    let tmp = tempfile::tempdir().unwrap();
    let row = |label: Value| {
        serde_json::json!({"q_id": 7, "question": "Where do people keep books?", "choice0": "At the library",
                           "choice1": "on a shelf", "choice2": "in a bag", "choice3": "the lazy dog", "label": label})
    };
    let best = {
        let logits = golden_logits("choice_safetensors", 0);
        (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap()
    };
    let input = tmp.path().join("valid.json");
    std::fs::write(
        &input,
        format!("{}\n{}\n", row(best.into()), row(((best + 1) % 4).into())),
    )
    .unwrap();
    let o = run(&["luke", "choose", "--model", &model, "--input", input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["correct"].as_bool(), lines[1]["correct"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(stderr(&o).contains("accuracy: 1/2 = 0.5000"), "{}", stderr(&o));

    let bad = tmp.path().join("bad.json");
    for (line, needle) in [
        (row(9.into()), "label 9 but only 4 choices"),
        (row("a".into()), "\"label\" is not a choice index"),
        (
            serde_json::json!({"question": "q", "choice0": "a", "choice1": 3}),
            "\"choice1\" is missing or not a string",
        ),
    ] {
        std::fs::write(&bad, format!("{line}\n")).unwrap();
        fails(
            &["luke", "choose", "--model", &model, "--input", bad.to_str().unwrap()],
            &["bad.json:1", needle],
        );
    }
}

/// The one-label classify commands take a gold label (a name or an index) per example, say
/// whether each prediction was right, and end with the accuracy, as `choose` does.
#[test]
fn classify_commands_score_gold_labels() {
    let model = fixture("sequence_bin");
    let tmp = tempfile::tempdir().unwrap();
    let text = "The quick brown fox";
    let predicted: Value =
        serde_json::from_str(&ok(&["luke", "classify", "--model", &model, "--text", text, "--json"])).unwrap();
    let (best, labels) = (
        predicted["index"].as_u64().unwrap() as usize,
        predicted["labels"].as_array().unwrap().clone(),
    );
    let other = (best + 1) % labels.len();
    let input = tmp.path().join("gold.jsonl");
    std::fs::write(
        &input,
        format!(
            "{}\n{}\n{}\n",
            serde_json::json!({"text": text, "label": labels[best]}),
            serde_json::json!({"text": text, "label": other}),
            serde_json::json!({"text": text}),
        ),
    )
    .unwrap();
    let o = run(&[
        "luke",
        "classify",
        "--model",
        &model,
        "--input",
        input.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.iter().map(|l| l["correct"].as_bool()).collect::<Vec<_>>(),
        [Some(true), Some(false), None]
    );
    assert_eq!(lines[1]["gold"], labels[other]);
    assert!(stderr(&o).contains("accuracy: 1/2 = 0.5000"), "{}", stderr(&o));

    let pair = fixture("pair_dense_bin");
    let relation = [
        "luke",
        "classify-pair",
        "--model",
        &pair,
        "--text",
        "Taro belongs to Keio University",
        "--span",
        "0:4",
        "--span",
        "16:31",
    ];
    let predicted: Value = serde_json::from_str(&ok(&[&relation[..], &["--json"]].concat())).unwrap();
    let name = predicted["label"].as_str().unwrap();
    let human = ok(&[&relation[..], &["--label", name]].concat());
    assert!(human.contains(&format!("gold {name}: right")), "{human}");

    let bad = tmp.path().join("bad.jsonl");
    for (line, needle) in [
        (
            serde_json::json!({"text": text, "label": "no-such-label"}),
            "\"no-such-label\" is not one of",
        ),
        (serde_json::json!({"text": text, "label": 99}), "label 99 but there are"),
    ] {
        std::fs::write(&bad, format!("{line}\n")).unwrap();
        fails(
            &["luke", "classify", "--model", &model, "--input", bad.to_str().unwrap()],
            &["bad.jsonl:1", needle],
        );
    }
    fails(
        &["luke", "encode", "--model", &model, "--text", text, "--label", "1"],
        &["--text", "takes no label"],
    );
    fails(
        &[
            "luke",
            "classify-spans",
            "--model",
            &fixture("spans_noaware_bin"),
            "--text",
            "Keio university",
            "--span",
            "0:4",
            "--label",
            "0",
        ],
        &["--text", "cannot be scored"],
    );
}

/// `encode --entity` works on a checkpoint fine-tuned for entity typing, whose tokenizer would
/// otherwise put [MASK] entities and markers: the names are encoded as given.
#[test]
fn encode_takes_entity_names_on_an_entity_typing_checkpoint() {
    let enc: Value = serde_json::from_str(&ok(&[
        "luke",
        "encode",
        "--model",
        &fixture("entity_nodense_safetensors"),
        "--text",
        "Beyoncé lives in Los Angeles.",
        "--span",
        "0:7",
        "--entity",
        "Beyoncé",
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        enc["entity_ids"],
        serde_json::json!([7]),
        "the name's id, not [MASK]: {enc}"
    );
}

#[test]
fn jsonl_batches_match_single_runs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pairs.jsonl");
    std::fs::write(
        &input,
        "{\"text\": \"Taro belong to Keio university\", \"spans\": [[0, 3], [15, 29]]}\n\n\
         {\"text\": \"Keio university employs Taro and Hanako in Tokyo.\", \"spans\": [[24, 28], [0, 15]]}\n\
         {\"text\": \"Beyoncé lives in Los Angeles.\", \"spans\": [[0, 7], [17, 28]]}\n",
    )
    .unwrap();
    let model = fixture("pair_dense_bin");
    for batch in ["1", "8"] {
        let out = ok(&[
            "luke",
            "classify-pair",
            "--model",
            &model,
            "--input",
            input.to_str().unwrap(),
            "--batch-size",
            batch,
        ]);
        let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        for (i, line) in lines.iter().enumerate() {
            assert!(
                close(&floats(&line["logits"]), &golden_logits("pair_dense_bin", i)),
                "batch {batch} line {i}"
            );
        }
    }
}

#[test]
fn long_text_is_cut_with_a_warning_and_spans_past_the_cut_dropped() {
    let text = "Taro belong to Keio university. ".repeat(12) + "Tokyo";
    let end = text.chars().count();
    let last = format!("{}:{end}", end - 5);
    let o = run(&[
        "luke",
        "classify-spans",
        "--model",
        &fixture("spans_noaware_bin"),
        "--text",
        &text,
        "--span",
        "0:4",
        "--span",
        &last,
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning") && stderr(&o).contains("dropped"),
        "{}",
        stderr(&o)
    );
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["spans"].as_array().unwrap().len(), 1);
    assert_eq!(json["dropped_spans"][0][1], end);
    // A pair whose tail lies past the cut cannot be classified.
    fails(
        &[
            "luke",
            "classify-pair",
            "--model",
            &fixture("pair_dense_bin"),
            "--text",
            &text,
            "--span",
            "0:4",
            "--span",
            &last,
        ],
        &["past the part of the text"],
    );
}

#[test]
fn bad_spans_and_texts_are_clear_errors() {
    let model = fixture("pair_dense_bin");
    let pair = |text: &str, a: &str, b: &str, needle: &str| {
        fails(
            &[
                "luke",
                "classify-pair",
                "--model",
                &model,
                "--text",
                text,
                "--span",
                a,
                "--span",
                b,
            ],
            &[needle],
        );
    };
    pair("Taro belong to Keio university", "0:3", "15:31", "15:31");
    pair("Taro belong to Keio university", "0:10", "5:20", "overlap");
    pair("Taro belong to Keio university", "3:3", "5:20", "3:3");
    pair("   ", "0:1", "1:2", "empty");
    fails(
        &[
            "luke",
            "classify-pair",
            "--model",
            &model,
            "--text",
            "Taro belong",
            "--span",
            "0:4",
        ],
        &["exactly 2"],
    );
    let usage = run(&[
        "luke",
        "classify-pair",
        "--model",
        &model,
        "--text",
        "Taro",
        "--span",
        "0-4",
    ]);
    assert_eq!(usage.status.code(), Some(2), "clap's usage error");
    assert!(stderr(&usage).contains("START:END"));
    let many: Vec<String> = (0..33)
        .flat_map(|i| ["--span".to_string(), format!("{i}:{}", i + 1)])
        .collect();
    let text = "x".repeat(40);
    let spans_model = fixture("spans_noaware_bin");
    let mut args: Vec<&str> = vec!["luke", "classify-spans", "--model", &spans_model, "--text", &text];
    args.extend(many.iter().map(String::as_str));
    fails(&args, &["max_entity_length"]);
    fails(
        &[
            "luke",
            "encode",
            "--model",
            &fixture("sequence_bin"),
            "--text",
            "Taro",
            "--span",
            "0:4",
            "--entity",
            "a",
            "--entity",
            "b",
        ],
        &["2 entity names for 1 spans"],
    );
    fails(
        &[
            "luke",
            "choose",
            "--model",
            &fixture("choice_safetensors"),
            "--text",
            "Q?",
            "--choice",
            "only",
        ],
        &["two --choice"],
    );
    fails(
        &[
            "luke",
            "classify-pair",
            "--model",
            &fixture("sequence_bin"),
            "--text",
            "a b",
            "--span",
            "0:1",
            "--span",
            "2:3",
        ],
        &["LukeForSequenceClassification"],
    );
    if let Some(why) = common::no_gpu_message() {
        fails(
            &["luke", "encode", "--model", &model, "--text", "a", "--device", "cuda"],
            &["--device cuda", why],
        );
    }
}

#[test]
fn malformed_jsonl_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"text\": \"Taro belong\", \"spans\": [[0, 4], [5, 11]]}\n{\"txt\": 1}\n",
    )
    .unwrap();
    let model = fixture("pair_dense_bin");
    fails(
        &[
            "luke",
            "classify-pair",
            "--model",
            &model,
            "--input",
            input.to_str().unwrap(),
        ],
        &["in.jsonl:2"],
    );
    std::fs::write(&input, "{\"text\": \"Taro belong\", \"spans\": [[0, 4], [5, 99]]}\n").unwrap();
    fails(
        &[
            "luke",
            "classify-pair",
            "--model",
            &model,
            "--input",
            input.to_str().unwrap(),
        ],
        &["in.jsonl:1", "5:99"],
    );
    // A bad line anywhere stops the run before anything is printed.
    std::fs::write(&input, "{\"text\": \"Taro belong\", \"spans\": [[0, 4], [5, 11]]}\n{\"text\": \"Taro\", \"spans\": [[0, 4], [5, 11]]}\n").unwrap();
    let o = run(&[
        "luke",
        "classify-pair",
        "--model",
        &model,
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        o.stdout.is_empty(),
        "printed before failing: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    std::fs::write(&input, "\n").unwrap();
    fails(
        &[
            "luke",
            "classify-pair",
            "--model",
            &model,
            "--input",
            input.to_str().unwrap(),
        ],
        &["no examples"],
    );
}

#[test]
fn broken_checkpoints_name_the_file_or_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let args = |dir: &Path| {
        vec![
            "luke".to_string(),
            "encode".into(),
            "--model".into(),
            dir.to_str().unwrap().to_string(),
            "--text".into(),
            "Taro".into(),
        ]
    };
    let fails_in = |dir: &Path, needles: &[&str]| {
        let a = args(dir);
        fails(&a.iter().map(String::as_str).collect::<Vec<_>>(), needles);
    };
    fails_in(&tmp.path().join("nowhere"), &["no such model directory"]);

    let dir = copy_fixture("pair_dense_bin", tmp.path());
    edit_config(&dir, "architectures", serde_json::json!(["LukeForPoetry"]));
    fails_in(&dir, &["config.json", "LukeForPoetry"]);

    let dir = copy_fixture("sequence_bin", &tmp.path().join("layers"));
    edit_config(&dir, "num_hidden_layers", serde_json::json!(3));
    fails_in(&dir, &["pytorch_model.bin", "missing tensor encoder.layer.2"]);

    let dir = copy_fixture("sequence_bin", &tmp.path().join("types"));
    edit_config(&dir, "type_vocab_size", serde_json::json!(0));
    fails_in(&dir, &["config.json", "type_vocab_size is 0"]);

    let dir = copy_fixture("sequence_bin", &tmp.path().join("shape"));
    edit_config(&dir, "intermediate_size", serde_json::json!(40));
    fails_in(
        &dir,
        &["encoder.layer.0.intermediate.dense.weight", "[37, 32]", "[40, 32]"],
    );

    let dir = copy_fixture("sequence_bin", &tmp.path().join("corrupt"));
    std::fs::write(dir.join("pytorch_model.bin"), b"not a zip").unwrap();
    fails_in(&dir, &["pytorch_model.bin", "not a torch zip"]);

    // flipped bytes inside a stored tensor: the zip's checksum fails, named with the file
    let dir = copy_fixture("sequence_bin", &tmp.path().join("flipped"));
    let bin = dir.join("pytorch_model.bin");
    let mut bytes = std::fs::read(&bin).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&bin, bytes).unwrap();
    fails_in(&dir, &["pytorch_model.bin", "is the file damaged?"]);

    let dir = copy_fixture("entity_nodense_safetensors", &tmp.path().join("nost"));
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    fails_in(&dir, &["no weights"]);

    let dir = copy_fixture("sentencepiece_sequence_bin", &tmp.path().join("spm_empty"));
    std::fs::write(dir.join("sentencepiece.bpe.model"), b"").unwrap();
    fails_in(&dir, &["sentencepiece.bpe.model", "no pieces"]);

    let dir = copy_fixture("sentencepiece_sequence_bin", &tmp.path().join("spm_cut"));
    let model = std::fs::read(dir.join("sentencepiece.bpe.model")).unwrap();
    std::fs::write(dir.join("sentencepiece.bpe.model"), &model[..model.len() / 2]).unwrap();
    fails_in(&dir, &["sentencepiece.bpe.model", "runs past the end"]);

    let dir = copy_fixture("sentencepiece_sequence_bin", &tmp.path().join("spm_gone"));
    std::fs::remove_file(dir.join("sentencepiece.bpe.model")).unwrap();
    fails_in(&dir, &["MLukeTokenizer needs sentencepiece.bpe.model"]);

    let dir = copy_fixture("sequence_bin", &tmp.path().join("noent"));
    std::fs::remove_file(dir.join("entity_vocab.json")).unwrap();
    fails_in(&dir, &["entity_vocab"]);

    let dir = copy_fixture("sequence_bin", &tmp.path().join("badcfg"));
    std::fs::write(dir.join("config.json"), "{not json").unwrap();
    fails_in(&dir, &["config.json"]);
}
