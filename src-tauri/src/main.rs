// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    use_a_real_locale();
    chatkeep_desktop::run();
}

/// WebKitGTK takes the page's language from the POSIX locale; with `C`/`POSIX`
/// (or none, as under a bare service manager) it reports the language tag "C",
/// which every `Intl` call in the dashboard rejects. Such a session gets `C.UTF-8`
/// plus an English language tag instead; a real locale is left alone.
#[allow(unsafe_code)]
fn use_a_real_locale() {
    let effective =
        ["LC_ALL", "LC_MESSAGES", "LANG"].iter().find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    let posix = effective.as_deref().is_none_or(|v| v == "C" || v == "POSIX" || v.starts_with("C."));
    if posix && std::env::var_os("LANGUAGE").is_none() {
        // SAFETY: the first thing main does, before any other thread exists.
        unsafe {
            std::env::set_var("LANGUAGE", "en_US");
            std::env::set_var("LANG", "en_US.UTF-8");
            std::env::remove_var("LC_ALL");
        }
    }
}
