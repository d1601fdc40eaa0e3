// Migrations are embedded with `sqlx::migrate!`; rebuild when a migration file changes.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
