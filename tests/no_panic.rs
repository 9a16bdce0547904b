//! No input makes the loader panic: arbitrary text, and mutations of the worked example
//! (lines dropped, duplicated, re-indented, characters replaced), as environment and pipeline.

use amagent::config::{SourceFile, load_sources};
use proptest::prelude::*;

const STAGING: &str = include_str!("../environments/staging.yaml");
const PRODUCTION: &str = include_str!("../environments/production.yaml");
const PIPELINE: &str = include_str!("../pipelines/api.yaml");

fn load(env: &str, pipeline: &str) {
    let files = vec![
        SourceFile {
            path: "environments/staging.yaml".into(),
            text: env.into(),
        },
        SourceFile {
            path: "environments/production.yaml".into(),
            text: PRODUCTION.into(),
        },
        SourceFile {
            path: "pipelines/api.yaml".into(),
            text: pipeline.into(),
        },
    ];
    if let Err(diagnostics) = load_sources(&files) {
        // Whatever went wrong is pinned to a real position.
        for d in diagnostics.iter() {
            assert!(d.line >= 1 && d.column >= 1, "{d}");
            assert!(!d.message.is_empty());
        }
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    DropLine(usize),
    DuplicateLine(usize),
    Indent(usize, usize),
    Replace(usize, char),
    Insert(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DropLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), 0usize..6).prop_map(|(l, n)| Mutation::Indent(l, n)),
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        (
            any::<usize>(),
            prop::sample::select(vec![
                ":",
                "- ",
                "{",
                "}",
                "[",
                "]",
                "\"",
                "'",
                "&a ",
                "*a",
                "!!str ",
                "\t",
                "---\n",
                "? ",
                "|\n",
                ">\n",
                "#",
                "~",
                "null",
                "99999999999999999999",
                "-1",
                "1.5",
                "true",
                "<<: *a\n",
            ])
            .prop_map(String::from)
        )
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match m {
            Mutation::DropLine(i) => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Mutation::Indent(i, k) => lines[i % n] = format!("{}{}", " ".repeat(*k), lines[i % n]),
            Mutation::Replace(i, c) => {
                let line = &mut lines[i % n];
                let chars: Vec<char> = line.chars().collect();
                if !chars.is_empty() {
                    let at = i % chars.len();
                    *line = chars[..at]
                        .iter()
                        .chain(std::iter::once(c))
                        .chain(&chars[at + 1..])
                        .collect();
                }
            }
            Mutation::Insert(i, s) => {
                let line = &mut lines[i % n];
                let at = line
                    .char_indices()
                    .map(|(b, _)| b)
                    .nth(i % (line.chars().count() + 1))
                    .unwrap_or(line.len());
                line.insert_str(at, s);
            }
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        load(&text, &text);
    }

    #[test]
    fn yaml_shaped_text_never_panics(text in "([a-zA-Z]{1,8}: ?[-\\[\\]{}\"'a-z0-9*&!|>]{0,10}\n {0,6}){0,30}") {
        load(&text, PIPELINE);
    }

    #[test]
    fn mutated_example_never_panics(mutations in prop::collection::vec(mutation(), 1..8)) {
        load(&apply(STAGING, &mutations), &apply(PIPELINE, &mutations));
    }
}
