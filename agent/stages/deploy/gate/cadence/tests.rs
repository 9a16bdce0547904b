use super::*;

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The simulator's and AWS's defaults: interval 30 s, unhealthy threshold 2, delay 300 s.
const TIMING: PollTiming = PollTiming {
    first_check: Duration::from_secs(30),
    unhealthy_after: Duration::from_secs(60),
    drain: Duration::from_secs(300),
};

fn at(elapsed: u64) -> Moments {
    Moments {
        elapsed: s(elapsed),
        timeout: s(900),
        ..Moments::default()
    }
}

fn running_since(elapsed: u64, since: u64) -> Moments {
    Moments {
        unhealthy_running_since: vec![s(since)],
        ..at(elapsed)
    }
}

fn healthy(elapsed: u64, since: u64, bake: u64) -> Moments {
    Moments {
        healthy_since: Some(s(since)),
        bake_end: Some(s(since + bake)),
        old_remaining: true,
        ..at(elapsed)
    }
}

#[test]
fn without_timing_every_look_is_two_seconds_apart() {
    assert_eq!(next_poll(None, &healthy(100, 50, 0)), MAX_POLL);
    assert_eq!(next_poll(None, &at(0)), MAX_POLL);
}

#[test]
fn a_task_not_yet_running_is_looked_at_every_five_seconds() {
    let m = Moments {
        pending: true,
        ..at(0)
    };
    assert_eq!(next_poll(Some(&TIMING), &m), PENDING_POLL);
}

#[test]
fn a_running_task_is_next_looked_at_just_before_its_first_health_check() {
    // RUNNING at 20 s: first check at 50 s, dense from 46 s.
    assert_eq!(next_poll(Some(&TIMING), &running_since(22, 20)), s(24));
    assert_eq!(next_poll(Some(&TIMING), &running_since(46, 20)), MAX_POLL);
    assert_eq!(next_poll(Some(&TIMING), &running_since(50, 20)), MAX_POLL);
}

#[test]
fn a_target_not_healthy_after_its_first_check_is_watched_until_it_can_be_unhealthy() {
    // The first check (50 s) passed without health: dense through its lag (to 70 s), then the
    // unhealthy verdict at 80 s is next (dense from 76 s).
    assert_eq!(next_poll(Some(&TIMING), &running_since(69, 20)), MAX_POLL);
    assert_eq!(next_poll(Some(&TIMING), &running_since(71, 20)), s(5));
    assert_eq!(next_poll(Some(&TIMING), &running_since(77, 20)), MAX_POLL);
}

#[test]
fn the_grace_periods_end_is_a_moment_too() {
    let m = Moments {
        grace: s(120),
        ..running_since(101, 20)
    };
    // Past the unhealthy window (80 + 20 s lag); grace ends at 140 s: dense from 136 s.
    assert_eq!(next_poll(Some(&TIMING), &m), s(30));
    let m = Moments {
        grace: s(120),
        ..running_since(120, 20)
    };
    assert_eq!(next_poll(Some(&TIMING), &m), s(16));
}

#[test]
fn a_known_drain_is_crossed_in_thirty_second_steps_then_densely_near_its_end() {
    // Healthy at 50 s, bake 0: the old targets drain until 350 s.
    assert_eq!(next_poll(Some(&TIMING), &healthy(52, 50, 0)), SPARSE_POLL);
    assert_eq!(next_poll(Some(&TIMING), &healthy(322, 50, 0)), s(24));
    assert_eq!(next_poll(Some(&TIMING), &healthy(346, 50, 0)), MAX_POLL);
    assert_eq!(next_poll(Some(&TIMING), &healthy(360, 50, 0)), MAX_POLL);
    // Long past its end: back to sparse (something else holds the old task).
    assert_eq!(next_poll(Some(&TIMING), &healthy(380, 50, 0)), SPARSE_POLL);
}

#[test]
fn a_drain_whose_start_is_known_only_within_a_span_is_watched_across_it() {
    // Seen not yet healthy at 30 s, healthy at 50 s: the drain ends between 330 and 350 s.
    let m = |elapsed| Moments {
        not_yet_healthy_at: Some(s(30)),
        ..healthy(elapsed, 50, 0)
    };
    assert_eq!(next_poll(Some(&TIMING), &m(300)), s(26));
    for elapsed in [326, 335, 350, 369] {
        assert_eq!(
            next_poll(Some(&TIMING), &m(elapsed)),
            MAX_POLL,
            "at {elapsed} s"
        );
    }
    assert_eq!(next_poll(Some(&TIMING), &m(371)), SPARSE_POLL);
}

#[test]
fn the_bake_ends_exactly_on_a_look() {
    assert_eq!(next_poll(Some(&TIMING), &healthy(160, 50, 120)), s(6));
    assert_eq!(next_poll(Some(&TIMING), &healthy(167, 50, 120)), MAX_POLL);
    assert_eq!(next_poll(Some(&TIMING), &healthy(169, 50, 120)), s(1));
}

#[test]
fn the_timeout_is_never_overslept() {
    let m = Moments {
        timeout: s(300),
        ..healthy(100, 50, 0)
    };
    assert_eq!(next_poll(Some(&TIMING), &m), s(30));
    let m = Moments {
        timeout: s(300),
        ..healthy(297, 50, 0)
    };
    assert_eq!(next_poll(Some(&TIMING), &m), MAX_POLL.min(s(3)));
}
