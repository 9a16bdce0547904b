//! The alarm signal: which watched CloudWatch alarms count against a rollout. Only an alarm
//! that *entered* ALARM after the rollout began does: one already firing before it is not the
//! new revision's doing (and blocking every deploy during an incident would also block its fix).

use super::Failure;
use crate::cloud::types::AlarmState;
use chrono::{DateTime, Utc};

/// One watched alarm, as the gate sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmSignal {
    pub name: String,
    pub in_alarm: bool,
    /// Its state last changed at or after the rollout began.
    pub changed_during_rollout: bool,
    /// CloudWatch's StateReason.
    pub reason: String,
}

/// The signals of the `watched` alarms from DescribeAlarms' answer, for a rollout that began
/// at `since`. A watched alarm missing from the answer gives no signal (its existence is
/// checked before the rollout starts).
pub fn alarm_signals(
    states: &[AlarmState],
    watched: &[String],
    since: DateTime<Utc>,
) -> Vec<AlarmSignal> {
    watched
        .iter()
        .filter_map(|name| states.iter().find(|s| &s.name == name))
        .map(|s| AlarmSignal {
            name: s.name.clone(),
            in_alarm: s.in_alarm(),
            // CloudWatch stamps whole milliseconds; the rollout's start may carry more.
            changed_during_rollout: s.updated_at >= since - chrono::Duration::milliseconds(1),
            reason: s.reason.clone(),
        })
        .collect()
}

/// The first alarm that entered ALARM during the rollout, as the gate's failure.
pub(super) fn alarm_failure(signals: &[AlarmSignal]) -> Option<Failure> {
    signals
        .iter()
        .find(|s| s.in_alarm && s.changed_during_rollout)
        .map(|s| Failure::Alarm {
            alarm: s.name.clone(),
            reason: s.reason.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str, value: &str, at_secs: i64) -> AlarmState {
        AlarmState {
            name: name.into(),
            state: value.into(),
            reason: format!("{name} reason"),
            updated_at: DateTime::from_timestamp(at_secs, 0).unwrap(),
        }
    }

    fn since() -> DateTime<Utc> {
        DateTime::from_timestamp(1_000, 0).unwrap()
    }

    #[test]
    fn an_alarm_entering_alarm_after_the_start_fails_naming_it() {
        let states = [
            state("api-5xx", "ALARM", 1_060),
            state("latency", "OK", 1_010),
        ];
        let watched = ["latency".to_string(), "api-5xx".to_string()];
        let failure = alarm_failure(&alarm_signals(&states, &watched, since()));
        assert_eq!(
            failure,
            Some(Failure::Alarm {
                alarm: "api-5xx".into(),
                reason: "api-5xx reason".into()
            })
        );
    }

    #[test]
    fn an_alarm_already_firing_before_the_rollout_does_not_count() {
        let states = [state("api-5xx", "ALARM", 900)];
        let signals = alarm_signals(&states, &["api-5xx".to_string()], since());
        assert!(signals[0].in_alarm && !signals[0].changed_during_rollout);
        assert_eq!(alarm_failure(&signals), None);
    }

    #[test]
    fn ok_and_insufficient_data_do_not_count_and_unwatched_alarms_are_ignored() {
        let states = [
            state("a", "OK", 1_100),
            state("b", "INSUFFICIENT_DATA", 1_100),
            state("c", "ALARM", 1_100),
        ];
        let watched = ["a".to_string(), "b".to_string()];
        assert_eq!(
            alarm_failure(&alarm_signals(&states, &watched, since())),
            None
        );
    }
}
