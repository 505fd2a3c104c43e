// gen — prompts as Stable Diffusion users write them (AUTOMATIC1111 web UI conventions).
//
// 1. parse_prompt_attention() reads the emphasis syntax into (text, weight) chunks:
//      (text)        weight × 1.1          ((text)) × 1.21, and so on
//      (text:1.3)    weight × 1.3          the number: [+-]?[.0-9]+ right before ')'
//      [text]        weight ÷ 1.1
//      \( \) \[ \] \\  the literal character; a lone '\' is dropped
//      BREAK         (upper case, a whole word) ends the current 77-token window
//    Brackets nest and multiply. A closing bracket with no open one of its kind is plain text;
//    brackets still open at the end apply to everything after them. Neighbouring chunks with
//    equal weights are merged. An empty prompt gives one chunk ("", 1.0).
//    As in A1111, a BREAK inside brackets gets its weight multiplied and is then no longer
//    recognised as BREAK: it is tokenised as the word "break" with that (negative) weight.
//    A weight that is not a number (e.g. "(a:1.2.3)") is an error, as in A1111.
//
// 2. tokenize_prompt() tokenises each chunk (CLIP, no BOS/EOS, no truncation) and lays the
//    tokens into windows of 77 = BOS + 75 tokens + EOS, like A1111's sd_hijack_clip:
//      - when a window is full (75 tokens) and the last comma in it is at most
//        comma_backtrack tokens back, the tokens after that comma move to the next window;
//      - BREAK closes the current window (even an empty one);
//      - a window is padded with <|endoftext|> (weight 1.0) up to 75 tokens, then wrapped in
//        BOS ... EOS (weights 1.0); for ClipPadding::Zero (SD 2.x) every position after the
//        window's first <|endoftext|> becomes 0;
//      - an empty prompt (or an empty negative prompt) gives one window: BOS, EOS, padding.
//
// The contract with the text encoder (applied later, on embeddings): for each window w,
//      z_w = CLIP(ids[w*77 .. w*77+77))                        [77, C]
//      m0  = mean(z_w)                                         over all 77×C values
//      z_w = z_w * weights[w*77 + t] (row t scaled)            "scale"
//      z_w = z_w * (m0 / mean(z_w))                            "restore the original mean"
//    and the prompt's conditioning is the windows concatenated along tokens: [k*77, C].
//    (A1111's "Original" emphasis; it takes the mean over the whole batch of a call, which is
//    the same thing for one prompt.) Prompt and negative prompt may have different window
//    counts; pad_windows() appends empty windows (BOS, EOS, padding; weights 1) to equalise.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/clip_tokenizer.hpp"

namespace gen::text {

struct WeightedText {
  std::string text;
  double weight = 1.0;  // kept in double and multiplied in A1111's order, e.g. 1.1*1.1
  bool is_break() const { return text == "BREAK" && weight == -1.0; }
};

std::vector<WeightedText> parse_prompt_attention(std::string_view prompt);

struct PromptOptions {
  ClipPadding padding = ClipPadding::EndToken;
  int comma_backtrack = 20;  // A1111 "comma_padding_backtrack"; 0 disables
  bool emphasis = true;      // false: the prompt is one chunk of weight 1 (no syntax)
};

struct PromptTokens {
  static constexpr int kWindow = 77;
  int windows = 0;              // k
  std::vector<int32_t> ids;     // [k*77]
  std::vector<float> weights;   // [k*77]
  int token_count = 0;          // prompt tokens as A1111 counts them (full windows count 75)
};

PromptTokens tokenize_prompt(const ClipTokenizer& tokenizer, std::string_view prompt,
                             const PromptOptions& options = {});

// Appends empty windows until there are `windows` of them (no-op when already that many).
void pad_windows(PromptTokens& tokens, int windows, const ClipTokenizer& tokenizer, ClipPadding padding);

}  // namespace gen::text
