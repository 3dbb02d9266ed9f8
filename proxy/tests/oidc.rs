//! The OIDC verifier against an identity provider that rotates its key:
//! a token under a key id the proxy has not seen makes it fetch the keys
//! again (at most every ten seconds), and a key the provider dropped stops
//! working once they are fetched again.

use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::Router;
use mps3_proxy::dev_idp::DevIdp;
use mps3_proxy::http;
use mps3_proxy::oidc::Verifier;

#[tokio::test]
async fn a_rotated_key_is_fetched_and_a_dropped_one_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let first = DevIdp::with_kid(issuer.clone(), "app".into(), "k1");
    let second = DevIdp::with_kid(issuer.clone(), "app".into(), "k2");
    let jwks = Arc::new(Mutex::new(first.jwks().clone()));
    let fetches = Arc::new(Mutex::new(0));
    let (served, counted) = (jwks.clone(), fetches.clone());
    let discovery = first.discovery();
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { discovery.to_string() }),
        )
        .route(
            "/jwks",
            get(move || async move {
                *counted.lock().unwrap() += 1;
                served.lock().unwrap().to_string()
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let verifier = Verifier::new(
        issuer,
        "app".into(),
        &["ES256".into()],
        "roles".into(),
        http::client(),
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let id = verifier
        .verify(&first.token("alice", &[], None, now))
        .await
        .unwrap();
    assert_eq!(id.sub, "alice");
    // Expired (`exp` an hour and a half ago), or not valid yet (`nbf` an
    // hour ahead): refused, the 30 s leeway notwithstanding.
    let expired = verifier
        .verify(&first.token("alice", &[], None, now - 5400))
        .await
        .unwrap_err();
    assert!(expired.contains("Expired"), "{expired}");
    let early = verifier
        .verify(&first.token("alice", &[], None, now + 3600))
        .await
        .unwrap_err();
    assert!(early.contains("Immature"), "{early}");
    assert_eq!(*fetches.lock().unwrap(), 1);
    // Known keys are kept: no fetch per token.
    verifier
        .verify(&first.token("bob", &[], None, now))
        .await
        .unwrap();
    assert_eq!(*fetches.lock().unwrap(), 1);

    // The provider rotates: k2 only. Within ten seconds of the last fetch
    // an unknown key id is refused without fetching (a flood of made-up
    // key ids must not become a flood of fetches)...
    *jwks.lock().unwrap() = second.jwks().clone();
    let rotated = second.token("carol", &[], None, now);
    assert!(verifier.verify(&rotated).await.is_err());
    assert_eq!(*fetches.lock().unwrap(), 1);
    // ...and after, it is fetched and accepted.
    tokio::time::sleep(std::time::Duration::from_millis(10_100)).await;
    assert_eq!(verifier.verify(&rotated).await.unwrap().sub, "carol");
    assert_eq!(*fetches.lock().unwrap(), 2);
    // The dropped key no longer verifies anything.
    let err = verifier
        .verify(&first.token("alice", &[], None, now))
        .await
        .unwrap_err();
    assert!(err.contains("not one of the issuer's"), "{err}");
}
