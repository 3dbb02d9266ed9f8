//! `mps3-proxy serve <config.toml>`: runs the proxy (README, "Public
//! apps"). Secrets come from the environment: the session keys and the
//! proxy's own keys to the bucket.

use std::sync::Arc;

use mps3_proxy::config::Config;
use mps3_proxy::server::{router, App, Secrets};

fn usage() -> ! {
    eprintln!("usage: mps3-proxy serve <config.toml>");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = match args.as_slice() {
        [_, cmd, path] if cmd == "serve" => path.clone(),
        _ => usage(),
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("mps3-proxy: cannot read {path}: {e}");
        std::process::exit(1)
    });
    let config = Config::parse(&text).unwrap_or_else(|e| {
        eprintln!("mps3-proxy: {path}: {e}");
        std::process::exit(1)
    });
    let secrets = Secrets::from_env(&config).unwrap_or_else(|e| {
        eprintln!("mps3-proxy: {e}");
        std::process::exit(1)
    });
    let app = App::new(&config, secrets).unwrap_or_else(|e| {
        eprintln!("mps3-proxy: {e}");
        std::process::exit(1)
    });
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .unwrap_or_else(|e| {
            eprintln!("mps3-proxy: cannot listen on {}: {e}", config.listen);
            std::process::exit(1)
        });
    if config.dev_idp.enabled {
        eprintln!("mps3-proxy: the dev identity provider is ON: anyone may sign in as anyone (local runs only)");
    }
    eprintln!(
        "mps3-proxy: listening on {} for bucket {}",
        config.public_url(),
        config.upstream.bucket
    );
    let app = router(Arc::new(app), &config);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .unwrap_or_else(|e| eprintln!("mps3-proxy: {e}"));
}
