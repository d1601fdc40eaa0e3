//! PDF transcripts, streamed: a cover page, then one section per conversation
//! with its title, participants and messages, page numbers "N / M", and
//! embedded fonts that cover Latin, Greek, Cyrillic, Arabic and CJK (see
//! `assets/fonts/`).
//!
//! Use it as [`Pdf::new`] over the export's writer, then [`Pdf::paragraph`],
//! [`Pdf::gap`] and [`Pdf::new_page`] in reading order, then [`Pdf::finish`].
//! Each page is compressed and written out as soon as it is full, so memory
//! stays flat however many messages the export holds: what is kept is the
//! page being filled, the glyphs used so far (bounded by the fonts, not by the
//! text) and a few bytes per page for the cross-reference table and the page
//! tree, which a PDF keeps at its end. `finish` then writes what only the end
//! knows: the page count, the fonts subset to the glyphs used, the page tree
//! and the cross-reference table.
//!
//! Text is laid out here: each character takes the first embedded font that
//! has a glyph for it, lines wrap at word boundaries (or inside a word that is
//! wider than the page), and right-to-left runs are stored in visual order.
//! Fonts are Type0/CIDFontType2 with Identity-H encoding: a page shows 2-byte
//! glyph ids, numbered in the order glyphs are first used, which is the order
//! `subsetter` gives them in the subset font (so the CID-to-GID map is the
//! identity), and each font carries a ToUnicode map so viewers and
//! `pdftotext` give the words back.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::writers::{Catalog, DocumentInfo, Resources};
use pdf_writer::{Chunk, Content, Filter, Finish, Name, Rect, Ref, Str, TextStr};
use subsetter::GlyphRemapper;
use ttf_parser::{Face, GlyphId};

use crate::error::{Error, Result};

/// The embedded fonts in fallback order, with the PostScript names the PDF gives them.
const FONTS: [(&str, &[u8]); 3] = [
    ("NotoSans-Regular", include_bytes!("../../../assets/fonts/NotoSans-Regular.ttf")),
    ("NotoSansArabic-Regular", include_bytes!("../../../assets/fonts/NotoSansArabic-Regular.ttf")),
    ("DroidSansFallbackFull", include_bytes!("../../../assets/fonts/DroidSansFallbackFull.ttf")),
];
/// Resource names of the fonts in content streams, by index in `FONTS`.
const FONT_NAMES: [&[u8]; 3] = [b"F0", b"F1", b"F2"];
/// A subset font's name starts with six capitals that differ between subsets in one file.
const SUBSET_TAGS: [&str; 3] = ["CKAAAA", "CKAAAB", "CKAAAC"];
/// The Form XObject holding the page count, drawn on every page before the count is known.
const TOTAL: Name<'static> = Name(b"Total");

const PAGE_WIDTH: f32 = 595.28; // A4, points
const PAGE_HEIGHT: f32 = 841.89;
const MARGIN: f32 = 51.0; // 18 mm
const TOP: f32 = PAGE_HEIGHT - MARGIN;
const BOTTOM: f32 = MARGIN + 14.0; // room for the page number
/// Widest a line may be, in points.
pub const TEXT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
/// zlib level for content streams and fonts: most of the size gain at a fraction of level 9's time.
const COMPRESSION: u8 = 6;

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

/// Where a character is drawn from: its font (index in `FONTS`), glyph id there and advance in font units.
#[derive(Debug, Clone, Copy)]
struct Glyph {
    font: usize,
    id: u16,
    advance: u16,
}

/// The glyphs of one font used so far, numbered as they will be in its subset.
#[derive(Debug)]
struct UsedGlyphs {
    remapper: GlyphRemapper,
    /// The character each new glyph id was first used for (index = new id; `.notdef` has none).
    chars: Vec<Option<char>>,
}

/// The embedded fonts: glyph lookup, widths, and which glyphs the document uses.
struct Fonts {
    /// Parsed lazily by ttf-parser over the `include_bytes!` data: no copy, no up-front parse.
    faces: Vec<Face<'static>>,
    used: Vec<Option<UsedGlyphs>>,
    /// One entry per distinct character seen, so it is bounded by the fonts' coverage.
    lookups: HashMap<char, Glyph>,
}

impl Fonts {
    fn new() -> Result<Fonts> {
        let faces = FONTS
            .into_iter()
            .map(|(name, data)| {
                Face::parse(data, 0)
                    .map_err(|e| Error::Check(format!("the embedded PDF font {name} cannot be read: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Fonts { used: faces.iter().map(|_| None).collect(), faces, lookups: HashMap::new() })
    }

    /// The glyph for a character: from the first font that has it, else the first font's `.notdef`.
    fn glyph(&mut self, c: char) -> Glyph {
        if let Some(glyph) = self.lookups.get(&c) {
            return *glyph;
        }
        let (font, id) = self
            .faces
            .iter()
            .enumerate()
            .find_map(|(font, face)| face.glyph_index(c).filter(|g| g.0 != 0).map(|g| (font, g.0)))
            .unwrap_or((0, 0));
        let face = &self.faces[font];
        let advance = face.glyph_hor_advance(GlyphId(id)).unwrap_or(face.units_per_em() / 2);
        let glyph = Glyph { font, id, advance };
        self.lookups.insert(c, glyph);
        glyph
    }

    fn char_width(&mut self, c: char, size: f32) -> f32 {
        let glyph = self.glyph(c);
        f32::from(glyph.advance) * size / f32::from(self.faces[glyph.font].units_per_em().max(1))
    }

    fn width(&mut self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.char_width(c, size)).sum()
    }

    /// Marks a glyph as used and returns its id in the subset font, which content streams show.
    fn use_glyph(&mut self, glyph: Glyph, c: char) -> u16 {
        let used = self.used[glyph.font].get_or_insert_with(|| UsedGlyphs {
            remapper: GlyphRemapper::new(),
            // The remapper starts with `.notdef` as new id 0.
            chars: vec![None],
        });
        let id = used.remapper.remap(glyph.id);
        if usize::from(id) == used.chars.len() {
            used.chars.push(Some(c));
        }
        id
    }

    /// Shows one line at (x, y) in `content`: runs of one font each, right-to-left text in visual order.
    fn show_line(&mut self, content: &mut Content, text: &str, style: Style, x: f32, y: f32) {
        let mut runs: Vec<(usize, Vec<u8>)> = Vec::new();
        for c in visual_order(text).chars() {
            let glyph = self.glyph(c);
            let id = self.use_glyph(glyph, c);
            match runs.last_mut() {
                Some((font, run)) if *font == glyph.font => run.extend(id.to_be_bytes()),
                _ => runs.push((glyph.font, id.to_be_bytes().to_vec())),
            }
        }
        content.begin_text();
        content.set_fill_gray(style.grey());
        content.next_line(x, y);
        for (font, run) in runs {
            content.set_font(Name(FONT_NAMES[font]), style.size());
            content.show(Str(&run));
        }
        content.end_text();
    }
}

/// Indirect objects written straight to the output, with the byte offsets the cross-reference table needs.
struct Objects<W> {
    out: W,
    /// The destination as the user named it, for error messages.
    file: String,
    position: u64,
    /// Byte offset of each object, by id - 1 (ids are handed out densely from 1).
    offsets: Vec<u64>,
}

impl<W: Write> Objects<W> {
    fn reserve(&mut self) -> Ref {
        self.offsets.push(0);
        Ref::new(self.offsets.len() as i32)
    }

    fn bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(|e| Error::io(format!("cannot write the PDF export {}", self.file), e))?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Writes the one object `write` puts in a fresh chunk under `id`.
    fn write(&mut self, id: Ref, write: impl FnOnce(&mut Chunk)) -> Result<()> {
        let mut chunk = Chunk::new();
        write(&mut chunk);
        self.offsets[id.get() as usize - 1] = self.position;
        self.bytes(chunk.as_bytes())
    }

    /// The cross-reference table and trailer, which end the file.
    fn end(&mut self, catalog: Ref, info: Ref) -> Result<()> {
        let start = self.position;
        let offsets = std::mem::take(&mut self.offsets);
        let size = offsets.len() + 1;
        let mut table = format!("xref\n0 {size}\n0000000000 65535 f\r\n");
        // Written in slices so a large table is not held whole a second time.
        for offset in offsets {
            table.push_str(&format!("{offset:010} 00000 n\r\n"));
            if table.len() >= 1 << 16 {
                self.bytes(table.as_bytes())?;
                table.clear();
            }
        }
        table.push_str(&format!(
            "trailer\n<< /Size {size} /Root {} 0 R /Info {} 0 R >>\nstartxref\n{start}\n%%EOF\n",
            catalog.get(),
            info.get()
        ));
        self.bytes(table.as_bytes())
    }
}

/// A document being laid out and written, page by page.
pub struct Pdf<W: Write> {
    objects: Objects<W>,
    fonts: Fonts,
    title: String,
    catalog: Ref,
    page_tree: Ref,
    resources: Ref,
    total: Ref,
    /// The page objects written so far, for the page tree.
    pages: Vec<Ref>,
    /// The content stream of the page being filled, uncompressed.
    page: Vec<u8>,
    y: f32,
}

impl<W: Write> std::fmt::Debug for Pdf<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pdf")
            .field("file", &self.objects.file)
            .field("pages", &self.pages.len())
            .finish_non_exhaustive()
    }
}

impl<W: Write> Pdf<W> {
    /// Starts a document written to `out`; `file` names the destination in error messages.
    pub fn new(title: &str, out: W, file: &Path) -> Result<Pdf<W>> {
        let mut objects = Objects { out, file: file.display().to_string(), position: 0, offsets: Vec::new() };
        // The second line's high bytes tell transfer tools the file is binary.
        objects.bytes(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n")?;
        // Pages refer to these before they are written at the end.
        let catalog = objects.reserve();
        let page_tree = objects.reserve();
        let resources = objects.reserve();
        let total = objects.reserve();
        Ok(Pdf {
            objects,
            fonts: Fonts::new()?,
            title: title.to_string(),
            catalog,
            page_tree,
            resources,
            total,
            pages: Vec::new(),
            page: Vec::new(),
            y: TOP,
        })
    }

    /// Ends the page being filled (writing it out) and starts a new one.
    pub fn new_page(&mut self) -> Result<()> {
        self.write_page()?;
        self.y = TOP;
        Ok(())
    }

    /// Vertical space.
    pub fn gap(&mut self, points: f32) {
        self.y -= points;
    }

    /// Writes a paragraph, wrapped to the page and split across pages; `indent` in points.
    pub fn paragraph(&mut self, text: &str, style: Style, indent: f32) -> Result<()> {
        let width = TEXT_WIDTH - indent;
        for source_line in text.split('\n') {
            let source_line = source_line.trim_end_matches('\r');
            for line in self.wrap(source_line, style.size(), width) {
                if self.y - style.leading() < BOTTOM {
                    self.new_page()?;
                }
                self.y -= style.leading();
                self.line(&line, style, MARGIN + indent);
            }
        }
        Ok(())
    }

    /// Greedy word wrap; a word wider than the line is split between characters.
    fn wrap(&mut self, text: &str, size: f32, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        let mut line_width = 0.0;
        let space = self.fonts.char_width(' ', size);
        for word in text.split(' ') {
            let word_width = self.fonts.width(word, size);
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
                let w = self.fonts.char_width(c, size);
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

    /// Places one line at the current height.
    fn line(&mut self, text: &str, style: Style, x: f32) {
        let mut content = Content::new();
        self.fonts.show_line(&mut content, text, style, x, self.y);
        self.page.extend_from_slice(content.finish().as_slice());
        // `Content` ends without a separator, and "ET" + "BT" would read as one unknown operator.
        self.page.push(b'\n');
    }

    /// Numbers the page being filled and writes it (content stream, then page object) to the output.
    fn write_page(&mut self) -> Result<()> {
        // "N / " here and the total from the `Total` form, placed so that the slash sits at the page's centre.
        let number = format!("{} ", self.pages.len() + 1);
        let size = Style::Meta.size();
        let x = PAGE_WIDTH / 2.0 - self.fonts.width("/", size) / 2.0 - self.fonts.width(&number, size);
        let label = format!("{number}/ ");
        let mut content = Content::new();
        self.fonts.show_line(&mut content, &label, Style::Meta, x, MARGIN);
        content.save_state();
        content.transform([1.0, 0.0, 0.0, 1.0, x + self.fonts.width(&label, size), MARGIN]);
        content.x_object(TOTAL);
        content.restore_state();
        self.page.extend_from_slice(content.finish().as_slice());

        let data = miniz_oxide::deflate::compress_to_vec_zlib(&self.page, COMPRESSION);
        // Keeps the buffer's capacity: the next page is about as big.
        self.page.clear();
        let contents = self.objects.reserve();
        let page = self.objects.reserve();
        self.objects.write(contents, |chunk| {
            chunk.stream(contents, &data).filter(Filter::FlateDecode);
        })?;
        let (page_tree, resources) = (self.page_tree, self.resources);
        self.objects.write(page, |chunk| {
            let mut writer = chunk.page(page);
            writer.parent(page_tree).media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT)).contents(contents);
            writer.pair(Name(b"Resources"), resources);
        })?;
        self.pages.push(page);
        Ok(())
    }

    /// Writes the last page, then what only the end knows: the page count, the fonts, the page tree and the
    /// cross-reference table. The output is left to the caller to flush.
    pub fn finish(mut self) -> Result<()> {
        self.write_page()?;

        let total = self.pages.len().to_string();
        let mut content = Content::new();
        self.fonts.show_line(&mut content, &total, Style::Meta, 0.0, 0.0);
        let width = self.fonts.width(&total, Style::Meta.size());
        let data = miniz_oxide::deflate::compress_to_vec_zlib(content.finish().as_slice(), COMPRESSION);
        let (total_id, resources) = (self.total, self.resources);
        self.objects.write(total_id, |chunk| {
            let size = Style::Meta.size();
            let mut form = chunk.form_xobject(total_id, &data);
            form.filter(Filter::FlateDecode);
            form.bbox(Rect::new(0.0, -size, width + size, 2.0 * size));
            form.pair(Name(b"Resources"), resources);
        })?;

        // Only now is every glyph known; fonts nothing used are left out.
        let mut font_refs = Vec::new();
        let used = std::mem::take(&mut self.fonts.used);
        for (font, (used, name)) in used.iter().zip(FONT_NAMES).enumerate() {
            if let Some(used) = used {
                let id = write_font(&mut self.objects, &self.fonts.faces[font], font, used)?;
                font_refs.push((name, id));
            }
        }
        self.objects.write(resources, |chunk| {
            let mut writer = chunk.indirect(resources).start::<Resources>();
            let mut fonts = writer.fonts();
            for (name, id) in &font_refs {
                fonts.pair(Name(name), *id);
            }
            fonts.finish();
            writer.x_objects().pair(TOTAL, total_id);
        })?;

        let (page_tree, pages) = (self.page_tree, std::mem::take(&mut self.pages));
        self.objects.write(page_tree, |chunk| {
            chunk.pages(page_tree).kids(pages.iter().copied()).count(pages.len() as i32);
        })?;
        let catalog = self.catalog;
        self.objects.write(catalog, |chunk| {
            chunk.indirect(catalog).start::<Catalog>().pages(page_tree);
        })?;
        let info = self.objects.reserve();
        let title = std::mem::take(&mut self.title);
        self.objects.write(info, |chunk| {
            chunk
                .indirect(info)
                .start::<DocumentInfo>()
                .title(TextStr(&title))
                .producer(TextStr(concat!("chatkeep ", env!("CARGO_PKG_VERSION"))));
        })?;
        self.objects.end(catalog, info)
    }

    /// Bytes held for the page being filled (tests check it does not grow with the document).
    #[cfg(test)]
    fn page_buffer_capacity(&self) -> usize {
        self.page.capacity()
    }

    /// Bytes of bookkeeping kept per page until the end: cross-reference offsets and page tree entries.
    #[cfg(test)]
    fn bookkeeping_bytes(&self) -> usize {
        self.objects.offsets.capacity() * std::mem::size_of::<u64>()
            + self.pages.capacity() * std::mem::size_of::<Ref>()
    }
}

/// Writes one font as Type0 over a CIDFontType2 subset to the glyphs used; returns the Type0 font's id.
fn write_font<W: Write>(objects: &mut Objects<W>, face: &Face<'_>, font: usize, used: &UsedGlyphs) -> Result<Ref> {
    let (name, data) = FONTS[font];
    let subset = subsetter::subset(data, 0, &used.remapper)
        .map_err(|e| Error::Check(format!("cannot embed the font {name} in the PDF: {e}")))?;
    let base_font = format!("{}+{name}", SUBSET_TAGS[font]);
    let base_font = Name(base_font.as_bytes());
    let scale = 1000.0 / f32::from(face.units_per_em().max(1));
    // Content streams show the subset's glyph ids, and the remapper numbered them in order of first use.
    let widths: Vec<f32> = used
        .remapper
        .remapped_gids()
        .map(|old| f32::from(face.glyph_hor_advance(GlyphId(old)).unwrap_or(0)) * scale)
        .collect();

    let (type0, cid_font, descriptor, file, to_unicode) =
        (objects.reserve(), objects.reserve(), objects.reserve(), objects.reserve(), objects.reserve());
    objects.write(type0, |chunk| {
        chunk
            .type0_font(type0)
            .base_font(base_font)
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid_font)
            .to_unicode(to_unicode);
    })?;
    objects.write(cid_font, |chunk| {
        let mut writer = chunk.cid_font(cid_font);
        writer
            .subtype(CidFontType::Type2)
            .base_font(base_font)
            .system_info(SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 })
            .font_descriptor(descriptor)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        writer.widths().consecutive(0, widths.iter().copied());
    })?;
    let bbox = face.global_bounding_box();
    objects.write(descriptor, |chunk| {
        chunk
            .font_descriptor(descriptor)
            .name(base_font)
            // Symbolic: the glyphs are outside the standard Latin set, addressed by id.
            .flags(FontFlags::SYMBOLIC)
            .bbox(Rect::new(
                f32::from(bbox.x_min) * scale,
                f32::from(bbox.y_min) * scale,
                f32::from(bbox.x_max) * scale,
                f32::from(bbox.y_max) * scale,
            ))
            .italic_angle(face.italic_angle())
            .ascent(f32::from(face.ascender()) * scale)
            .descent(f32::from(face.descender()) * scale)
            .cap_height(f32::from(face.capital_height().unwrap_or(face.ascender())) * scale)
            // Regular weight; viewers use it only for hinting when the font cannot be used.
            .stem_v(80.0)
            .font_file2(file);
    })?;
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&subset, COMPRESSION);
    objects.write(file, |chunk| {
        chunk.stream(file, &compressed).filter(Filter::FlateDecode).pair(Name(b"Length1"), subset.len() as i32);
    })?;
    let mut cmap =
        UnicodeCmap::new(Name(b"Custom"), SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"UCS"), supplement: 0 });
    for (id, c) in used.chars.iter().enumerate() {
        if let Some(c) = c {
            cmap.pair(id as u16, *c);
        }
    }
    let cmap = miniz_oxide::deflate::compress_to_vec_zlib(cmap.finish().as_slice(), COMPRESSION);
    objects.write(to_unicode, |chunk| {
        chunk.cmap(to_unicode, &cmap).filter(Filter::FlateDecode);
    })?;
    Ok(type0)
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    /// A sink that only counts what reaches it, so the test sees when bytes leave the writer.
    struct Counting(Rc<Cell<u64>>);

    impl Write for Counting {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.set(self.0.get() + buf.len() as u64);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn pages_leave_the_writer_as_they_fill_and_only_a_few_bytes_per_page_stay_behind() {
        let written = Rc::new(Cell::new(0));
        let mut doc = Pdf::new("streaming", Counting(Rc::clone(&written)), Path::new("test.pdf")).expect("a document");
        let body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, Größe Ελληνικά 中文 العربية. ".repeat(30);
        let mut largest_page_buffer = 0;
        let mut after_first_pages = None;
        let pages = 2_000;
        while doc.pages.len() < pages {
            let before = (doc.pages.len(), written.get());
            doc.paragraph(&body, Style::Body, 10.0).expect("a paragraph");
            if doc.pages.len() > before.0 {
                assert!(written.get() > before.1, "a filled page is written out at once");
            }
            largest_page_buffer = largest_page_buffer.max(doc.page_buffer_capacity());
            if doc.pages.len() >= 20 && after_first_pages.is_none() {
                after_first_pages = Some(doc.page_buffer_capacity());
            }
        }
        assert!(largest_page_buffer < 64 * 1024, "one page's content is held, not more ({largest_page_buffer} bytes)");
        assert_eq!(
            after_first_pages,
            Some(doc.page_buffer_capacity()),
            "the page buffer stops growing after the first pages"
        );
        let per_page = doc.bookkeeping_bytes() / doc.pages.len();
        assert!(per_page <= 64, "bookkeeping per page stays small ({per_page} bytes)");
        let before_finish = written.get();
        doc.finish().expect("the end of the document");
        let total = written.get();
        assert!(
            before_finish * 100 / total >= 90,
            "most of the file is out before finish ({before_finish} of {total} bytes)"
        );
    }

    #[test]
    fn glyph_ids_are_numbered_in_order_of_first_use_per_font() {
        let mut fonts = Fonts::new().expect("fonts");
        let mut content = Content::new();
        fonts.show_line(&mut content, "ba ab 中", Style::Body, 0.0, 0.0);
        let latin = fonts.used[0].as_ref().expect("Noto Sans is used");
        assert_eq!(latin.chars, vec![None, Some('b'), Some('a'), Some(' ')], "new ids follow first use");
        let cjk = fonts.used[2].as_ref().expect("the CJK fallback is used");
        assert_eq!(cjk.chars, vec![None, Some('中')], "each font numbers its own glyphs");
        assert!(fonts.used[1].is_none(), "the Arabic font is not used");
    }
}
