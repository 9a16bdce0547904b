//! Scripted API faults: throttling and access denied.

use super::*;

#[tokio::test(start_paused = true)]
async fn throttling_bursts_are_counted_and_retried() {
    let env = setup(FaultScript::builtin("throttled").unwrap(), 1, 100, 200);
    let names = vec![SERVICE.to_string()];
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        let r = env.cloud.ecs.describe_services(CLUSTER, &names).await;
        outcomes.push(matches!(r, Err(CloudError::Throttled { .. })));
    }
    assert_eq!(
        outcomes,
        vec![
            false, false, false, true, true, true, true, false, false, false
        ]
    );
    assert_eq!(env.sim.calls()["DescribeServices"], 10);
    // With the agent's retry policy every poll gets through.
    env.sim.reset_calls();
    let policy = RetryPolicy::default();
    for _ in 0..10 {
        policy
            .run("DescribeTargetHealth", || {
                env.cloud.elb.describe_target_health(&env.tg)
            })
            .await
            .unwrap();
    }
    assert_eq!(env.sim.calls()["DescribeTargetHealth"], 10 + 4 + 4);
    // The bursts repeat every 10 calls: calls 14 to 17 of DescribeServices are throttled.
    for _ in 11..=13 {
        env.cloud
            .ecs
            .describe_services(CLUSTER, &names)
            .await
            .unwrap();
    }
    let e = env
        .cloud
        .ecs
        .describe_services(CLUSTER, &names)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        CloudError::Throttled {
            operation: "DescribeServices".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn access_denied_names_the_action() {
    let env = setup(FaultScript::builtin("access-denied").unwrap(), 1, 100, 200);
    let arn = register_new(&env).await;
    let e = env
        .cloud
        .ecs
        .update_service(&update_request(&arn))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        CloudError::AccessDenied {
            action: "ecs:UpdateService".into(),
            resource:
                "arn:aws:ecs:ap-southeast-2:123456789012:service/aussie-markets-staging/aussie-markets-api-staging"
                    .into(),
        }
    );
    assert!(e.to_string().contains("ecs:UpdateService"));
    assert_eq!(env.sim.calls()["UpdateService"], 1);
    assert_eq!(service(&env).deployments.len(), 1, "nothing changed");
}
