// gen — text clean-up steps used before CLIP tokenisation (internal to src/text).
//
// Strings here are sequences of Unicode code points (std::u32string). Unicode properties,
// normalisation and case mappings come from utf8proc; no Unicode tables are written by hand.
// All functions are pure and thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace gen::text {

// UTF-8 → code points. Invalid UTF-8 (overlong forms, surrogates, truncated sequences, values
// above U+10FFFF) throws gen::Error(InvalidArgument, "<what>: ...") with the byte offset.
std::u32string utf8_decode(std::string_view utf8, const std::string& what);
std::string utf8_encode(std::u32string_view text);

// Unicode canonical composition (NFC).
std::u32string nfc(std::u32string_view text);

// The subset of ftfy.fix_text (ftfy 6.3, default configuration) that changes text which is not
// mojibake, applied like ftfy does: line by line, each line repeated until it stops changing.
//   unescape_html     `&name;` (HTML5 names ending in ';' plus ftfy's all-caps aliases such as
//                     `&EACUTE;`) and `&#...;` references. Like ftfy, it is switched off for the
//                     line that contains a '<' and for every line after it.
//   fix_c1_controls   U+0080..U+009F → the windows-1252 character of that byte
//   fix_latin_ligatures  ﬁ ﬂ ﬀ ﬃ ﬄ ﬅ ﬆ, Ĳ ĳ, ŉ, Ǆ..ǌ, Ǳ..ǳ → their letters
//   fix_character_width  full-width / half-width forms (U+FF01..U+FFEF) → NFKC, U+3000 → space
//   uncurl_quotes     U+02BC, U+2018..U+201B → ', U+201C..U+201F → "
//   fix_line_breaks   CRLF, CR, U+2028, U+2029, U+0085 → LF
//   remove_terminal_escapes  ESC [ digits/; letter
//   remove_control_chars     U+0000..U+0008, U+000B, U+000E..U+001F, U+007F, U+206A..U+206F,
//                            U+FEFF, U+FFF9..U+FFFC
//   normalization     NFC
// Not implemented, because they only fire on mis-decoded text (mojibake such as "cafÃ©"):
// fix_encoding and its helpers (restore_byte_a0, replace_lossy_sequences,
// decode_inconsistent_utf8). fix_surrogates cannot apply to valid UTF-8 input.
std::u32string ftfy_fix_text(std::u32string_view text);

// Python's html.unescape (all HTML5 names, with or without ';', longest-prefix rule for
// unterminated names, numeric references with the HTML5 replacement rules).
std::u32string html_unescape(std::u32string_view text);

// Python's whitespace_clean: every run of str.isspace() characters → one space, then strip.
std::u32string whitespace_clean(std::u32string_view text);

// Every run of Unicode White_Space characters → one space, without stripping (the normaliser of
// transformers ≥ 5's CLIPTokenizer).
std::u32string whitespace_fold(std::u32string_view text);

// Python str.lower(): full lower-case mapping (İ → i̇) with the Final_Sigma rule (Σ → ς at
// the end of a word). With final_sigma = false, Σ always becomes σ (per-character lowering, as
// the tokenizers library does it).
std::u32string lower(std::u32string_view text, bool final_sigma);

// Python str.isspace() for one code point.
bool is_python_space(char32_t c);

}  // namespace gen::text
