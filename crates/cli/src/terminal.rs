//! Human output that shows data, never obeys it.
//!
//! Names, titles, bodies, reasons and paths printed by the CLI come from the chat
//! service's users. A display name holding `ESC [ 2 J` would clear the admin's screen,
//! one holding `U+202E` would reverse the rest of the line. Every line of human output
//! goes through [`say!`] (or [`say_err!`]), which writes such characters out as
//! `\u{1b}`. `--json` output needs nothing: JSON escapes control characters itself.

use std::borrow::Cow;

/// `text` with control characters (C0 but the line break, DEL, C1) and the
/// bidirectional overrides written out as `\u{..}`.
pub fn shown(text: &str) -> Cow<'_, str> {
    let hidden =
        |c: char| (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `println!` for human output: control characters from the data are written out.
macro_rules! say {
    () => { println!() };
    ($($arg:tt)*) => { println!("{}", $crate::terminal::shown(&format!($($arg)*))) };
}

/// `eprintln!` for human output: control characters from the data are written out.
macro_rules! say_err {
    ($($arg:tt)*) => { eprintln!("{}", $crate::terminal::shown(&format!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn escape_sequences_and_bidi_overrides_are_written_out_and_plain_text_is_untouched() {
        assert_eq!(shown("Ana\u{1b}[2J\u{7}"), "Ana\\u{1b}[2J\\u{7}");
        assert_eq!(shown("a\u{202e}b\rc\u{9b}"), "a\\u{202e}b\\u{d}c\\u{9b}");
        assert_eq!(shown("two\nlines, Größe, 中文"), "two\nlines, Größe, 中文");
    }
}
