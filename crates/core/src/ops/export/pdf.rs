//! PDF transcripts: a cover page, then one section per conversation with its
//! title, participants and messages, page numbers, and embedded fonts that
//! cover Latin, Greek, Cyrillic, Arabic and CJK (see `assets/fonts/`).
//!
//! Text is laid out here: each character takes the first embedded font that
//! has a glyph for it, lines wrap at word boundaries (or inside a word that is
//! wider than the page), and right-to-left runs are stored in visual order so
//! that viewers and `pdftotext` give the words back. The document is built in
//! memory (a PDF's cross-reference table comes at its end), so PDF exports
//! suit transcripts of thousands of messages rather than whole databases.

use printpdf::{
    Color, Mm, Op, ParsedFont, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, Rgb, TextItem,
};

use crate::error::{Error, Result};

const FONTS: [&[u8]; 3] = [
    include_bytes!("../../../assets/fonts/NotoSans-Regular.ttf"),
    include_bytes!("../../../assets/fonts/NotoSansArabic-Regular.ttf"),
    include_bytes!("../../../assets/fonts/DroidSansFallbackFull.ttf"),
];

const PAGE_WIDTH: f32 = 595.28; // A4, points
const PAGE_HEIGHT: f32 = 841.89;
const MARGIN: f32 = 51.0; // 18 mm
const TOP: f32 = PAGE_HEIGHT - MARGIN;
const BOTTOM: f32 = MARGIN + 14.0; // room for the page number
/// Widest a line may be, in points.
pub const TEXT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;

/// A style of line.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    Title,
    Heading,
    Meta,
    Body,
}

impl Style {
    fn size(self) -> f32 {
        match self {
            Style::Title => 18.0,
            Style::Heading => 12.5,
            Style::Meta => 8.5,
            Style::Body => 9.5,
        }
    }

    fn leading(self) -> f32 {
        self.size() * 1.3
    }

    fn grey(self) -> f32 {
        match self {
            Style::Meta => 0.4,
            _ => 0.0,
        }
    }
}

struct Font {
    parsed: ParsedFont,
    id: printpdf::FontId,
}

/// A document being laid out, page by page.
pub struct Pdf {
    doc: PdfDocument,
    fonts: Vec<Font>,
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl std::fmt::Debug for Pdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pdf").field("pages", &self.pages.len()).finish_non_exhaustive()
    }
}

impl Pdf {
    pub fn new(title: &str) -> Result<Pdf> {
        let mut doc = PdfDocument::new(title);
        let mut fonts = Vec::new();
        for bytes in FONTS {
            let parsed = ParsedFont::from_bytes(bytes, 0, &mut Vec::new())
                .ok_or_else(|| Error::Check("an embedded PDF font cannot be read".into()))?;
            let id = doc.add_font(&parsed);
            fonts.push(Font { parsed, id });
        }
        Ok(Pdf { doc, fonts, pages: vec![Vec::new()], y: TOP })
    }

    /// The font for a character: the first that has it, else the first font.
    fn font_for(&self, c: char) -> usize {
        self.fonts.iter().position(|f| f.parsed.lookup_glyph_index(c as u32).is_some()).unwrap_or(0)
    }

    fn char_width(&self, c: char, size: f32) -> f32 {
        let font = &self.fonts[self.font_for(c)].parsed;
        let units = font.lookup_glyph_index(c as u32).and_then(|g| font.get_glyph_width(g)).unwrap_or(500);
        f32::from(units) * size / f32::from(font.units_per_em.max(1))
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.char_width(c, size)).sum()
    }

    /// Starts a new page.
    pub fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    /// Vertical space.
    pub fn gap(&mut self, points: f32) {
        self.y -= points;
    }

    /// Writes a paragraph, wrapped to the page and split across pages; `indent` in points.
    pub fn paragraph(&mut self, text: &str, style: Style, indent: f32) {
        let width = TEXT_WIDTH - indent;
        for source_line in text.split('\n') {
            let source_line = source_line.trim_end_matches('\r');
            for line in self.wrap(source_line, style.size(), width) {
                if self.y - style.leading() < BOTTOM {
                    self.new_page();
                }
                self.y -= style.leading();
                self.line(&line, style, MARGIN + indent);
            }
        }
    }

    /// Greedy word wrap; a word wider than the line is split between characters.
    fn wrap(&self, text: &str, size: f32, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        let mut line_width = 0.0;
        let space = self.char_width(' ', size);
        for word in text.split(' ') {
            let word_width = self.width(word, size);
            let needed = if line.is_empty() { word_width } else { line_width + space + word_width };
            if needed <= width {
                if !line.is_empty() {
                    line.push(' ');
                    line_width += space;
                }
                line.push_str(word);
                line_width += word_width;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                line_width = 0.0;
            }
            if word_width <= width {
                line.push_str(word);
                line_width = word_width;
                continue;
            }
            // A word wider than the line: split it by characters.
            for c in word.chars() {
                let w = self.char_width(c, size);
                if line_width + w > width && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    line_width = 0.0;
                }
                line.push(c);
                line_width += w;
            }
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines
    }

    /// Places one line at the current height, in runs of one font each, right-to-left text in visual order.
    fn line(&mut self, text: &str, style: Style, x: f32) {
        let visual = visual_order(text);
        let mut runs: Vec<(usize, String)> = Vec::new();
        for c in visual.chars() {
            let font = self.font_for(c);
            match runs.last_mut() {
                Some((f, run)) if *f == font => run.push(c),
                _ => runs.push((font, c.to_string())),
            }
        }
        let grey = style.grey();
        let page = self.pages.last_mut().expect("a page exists");
        page.push(Op::StartTextSection);
        page.push(Op::SetFillColor { col: Color::Rgb(Rgb { r: grey, g: grey, b: grey, icc_profile: None }) });
        page.push(Op::SetTextCursor { pos: Point { x: Pt(x), y: Pt(self.y) } });
        for (font, run) in runs {
            page.push(Op::SetFont {
                font: PdfFontHandle::External(self.fonts[font].id.clone()),
                size: Pt(style.size()),
            });
            page.push(Op::ShowText { items: vec![TextItem::Text(run)] });
        }
        page.push(Op::EndTextSection);
    }

    /// Adds "page N of M" to every page and returns the finished file.
    pub fn finish(mut self) -> Vec<u8> {
        let total = self.pages.len();
        let mut pages = Vec::with_capacity(total);
        for (n, ops) in std::mem::take(&mut self.pages).into_iter().enumerate() {
            self.pages = vec![ops];
            let label = format!("{} / {}", n + 1, total);
            let width = self.width(&label, Style::Meta.size());
            self.y = MARGIN;
            self.line(&label, Style::Meta, (PAGE_WIDTH - width) / 2.0);
            let ops = self.pages.pop().unwrap_or_default();
            pages.push(PdfPage::new(Mm(210.0), Mm(297.0), ops));
        }
        self.doc.with_pages(pages).save(&PdfSaveOptions::default(), &mut Vec::new())
    }
}

/// Reorders a line for display: right-to-left runs (Arabic, Hebrew) in visual order,
/// as PDF text is drawn left to right.
fn visual_order(text: &str) -> String {
    if !text.chars().any(is_rtl) {
        return text.to_string();
    }
    let bidi = unicode_bidi::BidiInfo::new(text, None);
    bidi.paragraphs.iter().map(|p| bidi.reorder_line(p, p.range.clone()).into_owned()).collect()
}

fn is_rtl(c: char) -> bool {
    matches!(c as u32, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF)
}
