//! Pictures for the examples: a plotters bitmap backend that draws its text with the bundled
//! DejaVu Sans, and a PNG writer. Shared by `landscapes`, `schedules`, `train_mlp` and
//! `lr_finder`, each of which includes it with `#[path = "common/canvas.rs"] mod canvas;` (a
//! directory under `examples/` without a `main.rs` is not an example of its own).
//!
//! The font is embedded from `assets/fonts/DejaVuSans.ttf` (Bitstream Vera licence, see
//! `assets/fonts/LICENSE-DejaVu.txt`), so the examples need no system fonts.

use ab_glyph::{Font, FontRef, Glyph, PxScale, ScaleFont, point};
use plotters::prelude::BitMapBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};
use std::path::Path;

/// DejaVu Sans, the font of every picture.
pub const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

type Failure = DrawingErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;

/// A bitmap backend whose text is laid out and rasterised here, with `ab_glyph`, from the
/// embedded font: plotters' own `ab_glyph` text drops each glyph's side bearing, which spaces
/// letters unevenly, and its `ttf` text needs system fonts.
pub struct Canvas<'a> {
    inner: BitMapBackend<'a>,
    font: FontRef<'static>,
}

impl<'a> Canvas<'a> {
    /// Draws into `pixels`, RGB, `size.0 × size.1`, row by row.
    pub fn new(
        pixels: &'a mut [u8],
        size: (u32, u32),
        font: &'static [u8],
    ) -> Result<Self, ab_glyph::InvalidFont> {
        Ok(Canvas {
            inner: BitMapBackend::with_buffer(pixels, size),
            font: FontRef::try_from_slice(font)?,
        })
    }

    /// The glyphs of `text` at `size` pixels, the top of the line at `y = 0`, and the
    /// line's width and height.
    fn layout(&self, text: &str, size: f64) -> (Vec<Glyph>, f32, f32) {
        let font = self.font.as_scaled(PxScale::from(size as f32));
        let mut glyphs = Vec::with_capacity(text.len());
        let mut pen = 0.0_f32;
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                pen += font.kern(p, id);
            }
            glyphs.push(id.with_scale_and_position(font.scale(), point(pen, font.ascent())));
            pen += font.h_advance(id);
            previous = Some(id);
        }
        (glyphs, pen, font.height())
    }
}

impl DrawingBackend for Canvas<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }
    fn ensure_prepared(&mut self) -> Result<(), Failure> {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> Result<(), Failure> {
        self.inner.present()
    }
    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), Failure> {
        self.inner.draw_pixel(point, color)
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), Failure> {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Failure> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), Failure> {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), Failure> {
        self.inner.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), Failure> {
        self.inner.fill_polygon(vert, style)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), Failure> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), Failure> {
        let (_, width, height) = self.layout(text, style.size());
        Ok((width.ceil() as u32, height.ceil() as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), Failure> {
        let color = style.color();
        let (glyphs, width, height) = self.layout(text, style.size());
        // Offsets of the anchor point from the text box's top left, rounded once so that
        // every glyph moves by the same whole number of pixels.
        let dx = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Center => -width / 2.0,
            HPos::Right => -width,
        }
        .round() as i32;
        let dy = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -height / 2.0,
            VPos::Bottom => -height,
        }
        .round() as i32;
        let rotation = style.transform();
        let Canvas { inner, font } = self;
        for glyph in glyphs {
            let Some(outline) = font.outline_glyph(glyph) else {
                continue; // a space
            };
            let bounds = outline.px_bounds();
            let (left, top) = (bounds.min.x as i32 + dx, bounds.min.y as i32 + dy);
            let mut result = Ok(());
            outline.draw(|x, y, coverage| {
                let (rx, ry) = rotation.transform(left + x as i32, top + y as i32);
                if result.is_ok() && coverage > 0.0 {
                    result = inner.draw_pixel(
                        (pos.0 + rx, pos.1 + ry),
                        color.mix(f64::from(coverage.min(1.0))),
                    );
                }
            });
            result?;
        }
        Ok(())
    }
}

/// Encodes RGB `pixels` as a PNG file, compressed harder than plotters' own encoder does
/// (about half the size: these files are committed), except in fast mode, where the best
/// compression would take most of the time of an unoptimised build.
pub fn write_png(
    file: &Path,
    (width, height): (u32, u32),
    pixels: &[u8],
    fast: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let out = std::io::BufWriter::new(std::fs::File::create(file)?);
    let mut encoder = png::Encoder::new(out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    if fast {
        encoder.set_compression(png::Compression::Fast);
    } else {
        encoder.set_compression(png::Compression::Best);
        encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    }
    let mut writer = encoder.write_header()?;
    writer.write_image_data(pixels)?;
    writer.finish()?;
    Ok(())
}
