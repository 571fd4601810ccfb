//! A 3x5 pixel font for labelling plots without a font file or a text-rendering crate: upper-case
//! letters (lower case is drawn upper case), digits and `_ - . , = ?`; and the clipped pixel and
//! rectangle primitives it and the loss plot draw with.

use image::{Rgb, RgbImage};

/// Width of one character cell in font pixels: 3 of glyph and 1 of spacing.
const ADVANCE: u32 = 4;

/// Five rows per glyph, the three low bits of each row from left (0b100) to right (0b001).
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
        'A' => [0b010, 0b101, 0b111, 0b101, 0b101],
        'B' => [0b110, 0b101, 0b110, 0b101, 0b110],
        'C' => [0b011, 0b100, 0b100, 0b100, 0b011],
        'D' => [0b110, 0b101, 0b101, 0b101, 0b110],
        'E' => [0b111, 0b100, 0b110, 0b100, 0b111],
        'F' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'G' => [0b011, 0b100, 0b101, 0b101, 0b011],
        'H' => [0b101, 0b101, 0b111, 0b101, 0b101],
        'I' => [0b111, 0b010, 0b010, 0b010, 0b111],
        'J' => [0b001, 0b001, 0b001, 0b101, 0b010],
        'K' => [0b101, 0b101, 0b110, 0b101, 0b101],
        'L' => [0b100, 0b100, 0b100, 0b100, 0b111],
        'M' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'N' => [0b110, 0b101, 0b101, 0b101, 0b101],
        'O' => [0b010, 0b101, 0b101, 0b101, 0b010],
        'P' => [0b110, 0b101, 0b110, 0b100, 0b100],
        'Q' => [0b010, 0b101, 0b101, 0b110, 0b011],
        'R' => [0b110, 0b101, 0b110, 0b101, 0b101],
        'S' => [0b011, 0b100, 0b010, 0b001, 0b110],
        'T' => [0b111, 0b010, 0b010, 0b010, 0b010],
        'U' => [0b101, 0b101, 0b101, 0b101, 0b111],
        'V' => [0b101, 0b101, 0b101, 0b101, 0b010],
        'W' => [0b101, 0b101, 0b111, 0b111, 0b101],
        'X' => [0b101, 0b101, 0b010, 0b101, 0b101],
        'Y' => [0b101, 0b101, 0b010, 0b010, 0b010],
        'Z' => [0b111, 0b001, 0b010, 0b100, 0b111],
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b110, 0b001, 0b010, 0b100, 0b111],
        '3' => [0b110, 0b001, 0b010, 0b001, 0b110],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b110, 0b001, 0b110],
        '6' => [0b011, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b110],
        '_' => [0b000, 0b000, 0b000, 0b000, 0b111],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        ',' => [0b000, 0b000, 0b000, 0b010, 0b100],
        '=' => [0b000, 0b111, 0b000, 0b111, 0b000],
        ' ' => [0; 5],
        _ => [0b110, 0b001, 0b010, 0b000, 0b010], // '?'
    }
}

/// Width in image pixels of `text` drawn at `scale` (no trailing spacing).
pub fn text_width(text: &str, scale: u32) -> u32 {
    (text.chars().count() as u32 * ADVANCE).saturating_sub(1) * scale
}

/// Height in image pixels of a line drawn at `scale`.
pub fn text_height(scale: u32) -> u32 {
    5 * scale
}

/// Draws `text` with its top-left corner at (x, y), each font pixel a `scale` x `scale` block;
/// whatever falls outside the image is clipped.
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: u32, colour: [u8; 3]) {
    let s = i64::from(scale);
    for (i, c) in text.chars().enumerate() {
        let left = x + i as i64 * i64::from(ADVANCE) * s;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in (0..3).filter(|col| bits & (0b100 >> col) != 0) {
                fill_rect(img, left + col * s, y + row as i64 * s, s, s, colour);
            }
        }
    }
}

/// Fills the `w` x `h` rectangle whose top-left corner is (x, y), clipped to the image.
pub fn fill_rect(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, colour: [u8; 3]) {
    for py in y..y + h {
        for px in x..x + w {
            put(img, px, py, colour);
        }
    }
}

/// Sets one pixel; coordinates outside the image are ignored.
pub fn put(img: &mut RgbImage, x: i64, y: i64, colour: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, Rgb(colour));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inked(img: &RgbImage) -> Vec<(u32, u32)> {
        img.enumerate_pixels()
            .filter(|(_, _, p)| p.0 == [0, 0, 0])
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    #[test]
    fn glyphs_land_where_asked_and_scale() {
        let mut img = RgbImage::from_pixel(20, 12, Rgb([255, 255, 255]));
        draw_text(&mut img, 1, 1, "L", 1, [0, 0, 0]);
        // An L: the left column of five and the bottom row of three, one pixel in.
        let expected = [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (2, 5), (3, 5)];
        assert_eq!(inked(&img), {
            let mut e: Vec<(u32, u32)> = expected.to_vec();
            e.sort_by_key(|&(x, y)| (y, x));
            e
        });
        let mut big = RgbImage::from_pixel(20, 12, Rgb([255, 255, 255]));
        draw_text(&mut big, 0, 0, "L", 2, [0, 0, 0]);
        assert_eq!(inked(&big).len(), 4 * expected.len());
    }

    #[test]
    fn every_label_character_has_its_own_glyph_and_widths_add_up() {
        let chars = "abcdefghijklmnopqrstuvwxyz0123456789_-.,=";
        let mut seen = std::collections::HashSet::new();
        for c in chars.chars() {
            let g = glyph(c);
            assert!(g.iter().any(|&r| r != 0), "{c} is blank");
            assert_ne!(g, glyph('?'), "{c} falls back to '?'");
            assert!(seen.insert(g), "{c} looks like another character");
        }
        assert_eq!(text_width("vae_l1", 1), 6 * 4 - 1);
        assert_eq!(text_width("", 2), 0);
        assert_eq!(text_height(2), 10);
    }

    #[test]
    fn text_off_the_image_is_clipped_not_a_panic() {
        let mut img = RgbImage::from_pixel(8, 8, Rgb([255, 255, 255]));
        draw_text(&mut img, -5, -3, "answer_ce", 3, [0, 0, 0]);
        draw_text(&mut img, 6, 6, "1e-2", 3, [0, 0, 0]);
        assert!(!inked(&img).is_empty());
    }
}
