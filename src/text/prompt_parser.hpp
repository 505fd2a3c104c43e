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
//      - textual-inversion embeddings (PromptOptions::embeddings), as A1111's sd_hijack_clip:
//        at each position of a chunk's tokens the longest embedding name (its token ids) that
//        starts there is replaced by as many placeholder tokens (id 0) as the embedding has
//        vectors, each with the chunk's weight; an embedding that does not fit in what is left
//        of the window starts the next window (A1111's boundary rule). A name must lie inside
//        one chunk of text: "(name:1.2)" matches, "na(me)" does not. The placeholders'
//        positions are listed in PromptTokens::embeddings; the text encoder puts the vectors
//        there (after the token lookup, before the position embeddings are added).
//        As in A1111, when the comma rule moves tokens to the next window the embedding
//        positions stay with the window they were found in (the moved placeholders stay
//        token 0, the vectors land on that window's padding): an A1111 quirk, kept for parity.
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

// Textual-inversion embeddings a prompt may name (A1111's EmbeddingDatabase.ids_lookup).
struct EmbeddingName {
  std::vector<int32_t> ids;  // the name tokenised as prompt text (no BOS / EOS)
  int vectors = 1;           // positions it takes, 1..75
  int index = 0;             // the caller's
};

class EmbeddingNames {
 public:
  // Names are tried longest first; among names of equal length the one added first wins.
  void add(EmbeddingName name);
  // The name whose ids start at tokens[pos] (A1111's find_embedding_at_position), or nullptr.
  const EmbeddingName* find_at(const std::vector<int32_t>& tokens, size_t pos) const;
  bool empty() const { return by_first_.empty(); }

 private:
  std::vector<std::pair<int32_t, std::vector<EmbeddingName>>> by_first_;  // sorted by first id
};

struct PromptOptions {
  ClipPadding padding = ClipPadding::EndToken;
  int comma_backtrack = 20;  // A1111 "comma_padding_backtrack"; 0 disables
  bool emphasis = true;      // false: the prompt is one chunk of weight 1 (no syntax)
  const EmbeddingNames* embeddings = nullptr;  // none when null
};

// Where an embedding's vectors go: window `window`, positions position .. position+vectors-1
// of its 77 (BOS is position 0).
struct EmbeddingUse {
  int window = 0;
  int position = 0;
  int vectors = 0;
  int index = 0;  // EmbeddingName::index
};

struct PromptTokens {
  static constexpr int kWindow = 77;
  int windows = 0;              // k
  std::vector<int32_t> ids;     // [k*77]
  std::vector<float> weights;   // [k*77]
  int token_count = 0;          // prompt tokens as A1111 counts them (full windows count 75)
  std::vector<EmbeddingUse> embeddings;  // in prompt order
};

PromptTokens tokenize_prompt(const ClipTokenizer& tokenizer, std::string_view prompt,
                             const PromptOptions& options = {});

// The EmbeddingName::index of each embedding `prompt` names, first use first, each once (what
// tokenize_prompt would place; the vector counts play no part in which names match).
std::vector<int> embeddings_named(const ClipTokenizer& tokenizer, std::string_view prompt, const PromptOptions& options);

// Appends empty windows until there are `windows` of them (no-op when already that many).
void pad_windows(PromptTokens& tokens, int windows, const ClipTokenizer& tokenizer, ClipPadding padding);

}  // namespace gen::text
