#[tokio::main]
async fn main() -> anyhow::Result<()> {
    usergraph::cli::run().await
}
