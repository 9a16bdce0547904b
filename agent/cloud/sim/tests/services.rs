//! The other services: RDS snapshots, ECR images and login, S3 and SSM.

use super::*;

#[tokio::test(start_paused = true)]
async fn snapshot_becomes_available_after_its_time() {
    let sim = Simulator::new(Clock::starting_at(epoch()), FaultScript::new());
    sim.add_db_instance("aussie-markets-staging-db");
    let rds = sim.cloud().rds;
    let tags = vec![("amagent".to_string(), "pre-deploy".to_string())];
    let s = rds
        .create_db_snapshot(
            "aussie-markets-staging-db",
            "amagent-staging-20261125",
            &tags,
        )
        .await
        .unwrap();
    assert_eq!(s.status, "creating");
    assert_eq!(s.snapshot_type, "manual");
    assert_eq!(s.tags["amagent"], "pre-deploy");
    tokio::time::sleep(Duration::from_secs(119)).await;
    let list = rds
        .describe_db_snapshots("aussie-markets-staging-db")
        .await
        .unwrap();
    assert_eq!(list[0].status, "creating");
    let e = rds.delete_db_snapshot("amagent-staging-20261125").await;
    assert!(matches!(e, Err(CloudError::InvalidRequest { .. })));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let list = rds
        .describe_db_snapshots("aussie-markets-staging-db")
        .await
        .unwrap();
    assert_eq!(list[0].status, "available");
    assert_eq!(sim.snapshots("aussie-markets-staging-db").len(), 1);

    let e = rds
        .create_db_snapshot("aussie-markets-staging-db", "amagent-staging-20261125", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, CloudError::InvalidRequest { message, .. } if message.contains("DBSnapshotAlreadyExists")),
        "{e:?}"
    );
    for bad in ["1abc", "a--b", "a-", "a_b", ""] {
        let e = rds
            .create_db_snapshot("aussie-markets-staging-db", bad, &[])
            .await
            .unwrap_err();
        assert!(matches!(e, CloudError::InvalidRequest { .. }), "{bad}");
    }
    let e = rds
        .create_db_snapshot("nope", "abc", &[])
        .await
        .unwrap_err();
    assert_eq!(e, CloudError::not_found(ResourceKind::DbInstance, "nope"));

    rds.delete_db_snapshot("amagent-staging-20261125")
        .await
        .unwrap();
    assert!(sim.snapshots("aussie-markets-staging-db").is_empty());
    let e = rds
        .delete_db_snapshot("amagent-staging-20261125")
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        CloudError::NotFound {
            kind: ResourceKind::DbSnapshot,
            ..
        }
    ));
    assert_eq!(
        rds.describe_db_instance("aussie-markets-staging-db")
            .await
            .unwrap()
            .status,
        "available"
    );
}

/// Between whole seconds (real work under the simulator leaves virtual time there), what a
/// call makes is stamped with the call's instant, never the second before it: an agent that
/// looks for "snapshots since my journal record" must find the one it just took.
#[tokio::test(start_paused = true)]
async fn a_snapshot_is_stamped_no_earlier_than_its_call() {
    let clock = Clock::starting_at(epoch());
    let sim = Simulator::new(clock.clone(), FaultScript::new());
    sim.add_db_instance("db");
    tokio::time::advance(Duration::from_millis(1_700)).await;
    let before = clock.now();
    let s = sim
        .cloud()
        .rds
        .create_db_snapshot("db", "amagent-staging-20261125", &[])
        .await
        .unwrap();
    assert!(s.created_at >= before, "{} < {before}", s.created_at);
    assert!(s.created_at <= clock.now());
}

#[tokio::test(start_paused = true)]
async fn snapshot_fails_when_scripted() {
    let sim = Simulator::new(
        Clock::starting_at(epoch()),
        FaultScript::builtin("snapshot-fails").unwrap(),
    );
    sim.add_db_instance("db");
    let rds = sim.cloud().rds;
    rds.create_db_snapshot("db", "snap-1", &[]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(
        rds.describe_db_snapshots("db").await.unwrap()[0].status,
        "failed"
    );
}

// ---------------------------------------------------------------------- ECR

#[tokio::test(start_paused = true)]
async fn ecr_images_batch_delete_and_lifecycle_policy() {
    let sim = Simulator::new(Clock::starting_at(epoch()), FaultScript::new());
    sim.add_repository(REPO);
    let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    sim.push_image(REPO, &digest('a'), &["v1.3.0"], epoch());
    sim.push_image(REPO, &digest('b'), &["v1.3.1", "latest"], epoch());
    sim.push_image(REPO, &digest('c'), &["latest"], epoch());
    let images = sim.images(REPO);
    assert_eq!(images.len(), 3);
    assert_eq!(
        images[1].tags,
        vec!["v1.3.1"],
        "latest moved to the newest push"
    );
    let ecr = sim.cloud().ecr;
    assert_eq!(ecr.describe_images(REPO).await.unwrap(), images);

    let r = ecr
        .batch_delete_image(REPO, &[digest('a'), digest('b'), digest('d')])
        .await
        .unwrap();
    assert_eq!(r.deleted, vec![digest('a'), digest('b')]);
    assert_eq!(r.failures, vec![(digest('d'), "ImageNotFound".to_string())]);
    assert_eq!(sim.images(REPO).len(), 1);
    let too_many: Vec<String> = (0..101).map(|i| format!("sha256:{i:064x}")).collect();
    assert!(matches!(
        ecr.batch_delete_image(REPO, &too_many).await,
        Err(CloudError::InvalidRequest { .. })
    ));
    assert!(matches!(
        ecr.describe_images("nope").await,
        Err(CloudError::NotFound {
            kind: ResourceKind::Repository,
            ..
        })
    ));

    assert_eq!(ecr.get_lifecycle_policy(REPO).await.unwrap(), None);
    let policy = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}"#;
    ecr.put_lifecycle_policy(REPO, policy).await.unwrap();
    assert_eq!(
        ecr.get_lifecycle_policy(REPO).await.unwrap().as_deref(),
        Some(policy)
    );
    assert!(ecr.put_lifecycle_policy(REPO, "not json").await.is_err());

    assert_eq!(
        ecr.registry_host(),
        "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com"
    );
}

#[tokio::test(start_paused = true)]
async fn registry_login() {
    let expires = epoch() + chrono::Duration::hours(12);
    let host = "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com";
    // No local registry named: refused, never the real ECR host.
    let err = registry_auth(None, host, expires).unwrap_err();
    assert!(err.contains(REGISTRY_ENV), "{err}");
    let auth = registry_auth(Some("http://amagent:s3cret@127.0.0.1:5123/"), host, expires).unwrap();
    assert_eq!(auth.endpoint, "http://127.0.0.1:5123");
    assert_eq!(auth.username, "amagent");
    assert_eq!(auth.password.expose(), "s3cret");
    assert!(registry_auth(Some("127.0.0.1:5123"), host, expires).is_err());

    let sim = Simulator::new(Clock::starting_at(epoch()), FaultScript::new());
    sim.use_registry("http://amagent:s3cret@127.0.0.1:5123");
    let auth = sim.cloud().ecr.get_authorization_token().await.unwrap();
    assert_eq!(auth.expires_at, expires);
    assert_eq!(auth.endpoint, "http://127.0.0.1:5123");
}

/// Each account its own registry: its host, its login, only its repositories.
#[tokio::test(start_paused = true)]
async fn each_account_has_its_own_registry() {
    let sim = Simulator::new(Clock::starting_at(epoch()), FaultScript::new());
    sim.set_up_in_account(Some("210987654321"));
    sim.add_repository("aussie-markets/api-production");
    sim.set_up_in_account(None);
    sim.add_repository("aussie-markets/api");
    sim.use_registry("http://shared:one@127.0.0.1:5000");
    sim.use_registry_for("210987654321", "http://prod:two@127.0.0.1:5001");
    let (staging, production) = (sim.cloud_in("123456789012"), sim.cloud_in("210987654321"));
    assert_eq!(
        production.ecr.registry_host(),
        "210987654321.dkr.ecr.ap-southeast-2.amazonaws.com"
    );
    assert_eq!(
        staging.ecr.registry_host(),
        "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com"
    );
    let login = production.ecr.get_authorization_token().await.unwrap();
    assert_eq!(
        (login.endpoint.as_str(), login.username.as_str()),
        ("http://127.0.0.1:5001", "prod")
    );
    let login = staging.ecr.get_authorization_token().await.unwrap();
    assert_eq!(
        login.endpoint, "http://127.0.0.1:5000",
        "no registry of its own: the shared one"
    );
    assert!(
        production
            .ecr
            .describe_images("aussie-markets/api-production")
            .await
            .is_ok()
    );
    for (cloud, theirs) in [
        (&production, "aussie-markets/api"),
        (&staging, "aussie-markets/api-production"),
    ] {
        assert!(matches!(
            cloud.ecr.describe_images(theirs).await,
            Err(CloudError::NotFound {
                kind: ResourceKind::Repository,
                ..
            })
        ));
    }
    assert_eq!(
        sim.registry_host_of_repository("aussie-markets/api-production"),
        "210987654321.dkr.ecr.ap-southeast-2.amazonaws.com"
    );
}

// ---------------------------------------------------------------------- S3 and SSM

#[tokio::test(start_paused = true)]
async fn s3_conditional_puts() {
    let sim = Simulator::new(Clock::starting_at(epoch()), FaultScript::new());
    sim.add_bucket("journal");
    let s3 = sim.cloud().s3;
    let etag = s3
        .put("journal", "lock", b"agent-1", PutCondition::IfAbsent)
        .await
        .unwrap();
    assert_eq!(etag, etag_of(b"agent-1"));
    let e = s3
        .put("journal", "lock", b"agent-2", PutCondition::IfAbsent)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, CloudError::InvalidRequest { message, .. } if message.contains("PreconditionFailed"))
    );
    let e = s3
        .put(
            "journal",
            "lock",
            b"x",
            PutCondition::IfMatch("\"nope\"".into()),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("PreconditionFailed"));
    let etag2 = s3
        .put(
            "journal",
            "lock",
            b"agent-1 again",
            PutCondition::IfMatch(etag.clone()),
        )
        .await
        .unwrap();
    assert_ne!(etag, etag2);
    s3.put("journal", "runs/2", b"2", PutCondition::Always)
        .await
        .unwrap();
    s3.put("journal", "runs/1", b"1", PutCondition::Always)
        .await
        .unwrap();
    assert_eq!(
        s3.list("journal", "runs/").await.unwrap(),
        vec!["runs/1", "runs/2"]
    );
    let o = s3.get("journal", "lock").await.unwrap().unwrap();
    assert_eq!(o.body, b"agent-1 again");
    assert_eq!(o.etag, etag2);
    assert_eq!(s3.get("journal", "none").await.unwrap(), None);
    assert!(matches!(
        s3.get("nope", "k").await,
        Err(CloudError::NotFound {
            kind: ResourceKind::Bucket,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn ssm_reports_missing_names_only() {
    let sim = Simulator::new(Clock::starting_at(epoch()), FaultScript::new());
    sim.add_parameter("/aussie-markets/staging/api/database-url");
    let ssm = sim.cloud().ssm;
    let names = vec![
        "/aussie-markets/staging/api/database-url".to_string(),
        "/aussie-markets/staging/api/redis-url".to_string(),
    ];
    assert_eq!(ssm.missing(&names).await.unwrap(), vec![names[1].clone()]);
    assert_eq!(
        ssm.arn("/aussie-markets/staging/api/redis-url"),
        "arn:aws:ssm:ap-southeast-2:123456789012:parameter/aussie-markets/staging/api/redis-url"
    );
    let eleven: Vec<String> = (0..11).map(|i| format!("/p/{i}")).collect();
    assert!(matches!(
        ssm.missing(&eleven).await,
        Err(CloudError::InvalidRequest { .. })
    ));
}
