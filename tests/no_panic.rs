//! No input makes the loader panic: arbitrary text, and mutations of the worked example
//! (lines dropped, duplicated, re-indented, characters replaced), as environment and pipeline;
//! deep nesting of every YAML kind and wide files, on a stack as small as a tokio worker's.
//! (How fast those load is measured by benches/config_limits.rs.)

use amagent::config::limits::MAX_DEPTH;
use amagent::config::{SourceFile, load_sources};
use proptest::prelude::*;

const STAGING: &str = include_str!("../environments/staging.yaml");
const PRODUCTION: &str = include_str!("../environments/production.yaml");
const PIPELINE: &str = include_str!("../pipelines/api.yaml");

/// Tokio's default worker stack: the agent loads pull-request heads there.
const WORKER_STACK: usize = 2 << 20;

/// `load`'s diagnostics, computed on a thread with a worker-sized stack.
fn load_on_small_stack(env: String) -> Vec<String> {
    std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(move || load(&env, PIPELINE))
        .unwrap()
        .join()
        .expect("the loader neither panics nor overflows a 2 MiB stack")
}

/// One level of nesting, written in each of YAML's ways.
#[derive(Clone, Copy, Debug)]
enum Level {
    BlockSequence,
    BlockMapping,
    FlowSequence,
    FlowMapping,
}

/// `staging.yaml` with a value nested `levels` deep appended under `deep:`.
fn nested(levels: &[Level]) -> String {
    let mut text = format!("{STAGING}\ndeep:");
    let mut closers = String::new();
    let mut flow = false;
    for (i, level) in levels.iter().enumerate() {
        let indent = " ".repeat(2 * (i + 1));
        match level {
            // Block collections cannot sit inside flow ones: continue in flow style there.
            Level::BlockSequence if !flow => text.push_str(&format!("\n{indent}-")),
            Level::BlockMapping if !flow => text.push_str(&format!("\n{indent}k{i}:")),
            Level::FlowSequence | Level::BlockSequence => {
                text.push_str(" [");
                closers.insert(0, ']');
                flow = true;
            }
            Level::FlowMapping | Level::BlockMapping => {
                text.push_str(&format!(" {{k{i}:"));
                closers.insert(0, '}');
                flow = true;
            }
        }
    }
    text.push_str(" x");
    text.push_str(&closers);
    text.push('\n');
    text
}

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![
        Just(Level::BlockSequence),
        Just(Level::BlockMapping),
        Just(Level::FlowSequence),
        Just(Level::FlowMapping),
    ]
}

fn load(env: &str, pipeline: &str) -> Vec<String> {
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
    match load_sources(&files) {
        Ok(_) => Vec::new(),
        Err(diagnostics) => {
            // Whatever went wrong is pinned to a real position.
            for d in diagnostics.iter() {
                assert!(d.line >= 1 && d.column >= 1, "{d}");
                assert!(!d.message.is_empty());
            }
            diagnostics.iter().map(|d| d.message.clone()).collect()
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

proptest! {
    // Each case builds and loads up to a few hundred kilobytes.
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn deep_nesting_is_refused_past_the_bound_and_read_within_it(
        levels in prop::collection::vec(level(), 1..(4 * MAX_DEPTH))
    ) {
        let messages = load_on_small_stack(nested(&levels));
        let refused = messages.iter().any(|m| m.contains("nested more than"));
        // The file's own mapping is one level; `deep:`'s value adds the rest.
        prop_assert_eq!(refused, levels.len() + 1 > MAX_DEPTH, "{:?}", messages);
        if !refused {
            // Read in full: the only problem is the unknown top-level field.
            prop_assert_eq!(messages, vec!["unknown field `deep` at the top level".to_string()]);
        }
    }

    #[test]
    fn wide_files_never_panic(items in 0usize..20_000, flow in any::<bool>(), key_len in 1usize..200) {
        let key = "k".repeat(key_len);
        let wide = if flow {
            format!("deep: [{}]\n", vec![key.as_str(); items].join(", "))
        } else {
            (0..items).map(|i| format!("{key}{i}: x\n")).collect()
        };
        let messages = load_on_small_stack(format!("{STAGING}{wide}"));
        prop_assert!(messages.len() <= items.max(1), "{}", messages.len());
    }
}
