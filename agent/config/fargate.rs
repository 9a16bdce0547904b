//! Fargate's valid task-size combinations (CPU units → memory MiB).

/// CPU units Fargate accepts, smallest first.
pub const CPU_UNITS: [u32; 7] = [256, 512, 1024, 2048, 4096, 8192, 16384];

/// The memory sizes (MiB) Fargate accepts for `cpu`, or None when `cpu` is not a Fargate size.
pub fn memory_options(cpu: u32) -> Option<Vec<u32>> {
    let gib = |from: u32, to: u32, step: u32| (from..=to).step_by(step as usize).collect();
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => gib(1024, 4096, 1024),
        1024 => gib(2048, 8192, 1024),
        2048 => gib(4096, 16384, 1024),
        4096 => gib(8192, 30720, 1024),
        8192 => gib(16384, 61440, 4096),
        16384 => gib(32768, 122880, 8192),
        _ => return None,
    })
}

/// Human form of a memory list: `512, 1024 or 2048`, or `1024 to 4096 in steps of 1024`.
pub fn describe_memory_options(options: &[u32]) -> String {
    if options.len() <= 3 {
        let parts: Vec<String> = options.iter().map(u32::to_string).collect();
        let (last, rest) = parts.split_last().expect("non-empty");
        if rest.is_empty() {
            return last.clone();
        }
        return format!("{} or {last}", rest.join(", "));
    }
    let step = options[1] - options[0];
    format!(
        "{} to {} in steps of {step}",
        options[0],
        options[options.len() - 1]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_pairs() {
        assert!(memory_options(256).unwrap().contains(&512));
        assert!(!memory_options(256).unwrap().contains(&4096));
        assert!(memory_options(1024).unwrap().contains(&2048));
        assert!(memory_options(300).is_none());
        assert_eq!(memory_options(4096).unwrap().len(), 23);
    }

    #[test]
    fn describes_lists() {
        assert_eq!(
            describe_memory_options(&[512, 1024, 2048]),
            "512, 1024 or 2048"
        );
        assert_eq!(
            describe_memory_options(&memory_options(512).unwrap()),
            "1024 to 4096 in steps of 1024"
        );
    }
}
