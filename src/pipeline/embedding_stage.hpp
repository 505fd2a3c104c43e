// gen — the textual-inversion embeddings of a request (docs/embeddings.md): the files of its
// `embeddings` list and of its embeddings folder (`embeddings_dir`; the CLI defaults it to $GEN_EMBEDDINGS_DIR;
// searched recursively, as A1111 walks its embeddings folder), each named by its file name
// without extension. The listed files are read and checked whatever the prompts say; of the
// folder's, only those whose names the prompts use are read (a file nobody names cannot change
// an image, so a broken one there is no error). Files are kept by path, size and modification
// time.
#pragma once

#include <list>
#include <memory>
#include <string>
#include <vector>

#include "core/file_cache.hpp"
#include "adapters/embedding_file.hpp"
#include "gen/request.hpp"
#include "pipeline/conditioning.hpp"

namespace gen::pipeline {

class EmbeddingStage {
 public:
  explicit EmbeddingStage(std::size_t capacity = 64) : files_(capacity) {}
  // The embeddings `prompts` name (laid out as `encoder` lays prompts), for a text encoder of
  // `width` (`model` names it in messages); SDXL: `width2` the second encoder's (0: not SDXL),
  // `width` the first's (0: a refiner, which has none). Errors: NotFound (a listed file, the
  // folder), the reader's errors for a named file, ModelMismatch (a named file of another
  // width; on SDXL a file without its clip_l / clip_g pair), Unsupported (an embedding of more
  // than 75 vectors).
  std::shared_ptr<const PromptEmbeddings> prepare(const Request& request, const std::vector<std::string>& prompts,
                                                  const TextEncoder& encoder, std::int64_t width,
                                                  const std::string& model, std::int64_t width2 = 0);
  void clear() { files_.clear(); }

 private:
  std::shared_ptr<const adapters::EmbeddingFile> file(const std::string& path);
  core::FileCache<adapters::EmbeddingFile> files_;  // by path, size and modification time
};

// A1111's `TI hashes` value for `used` (PromptEmbeddings indices): "name: hash, ...".
std::string ti_hashes_text(const PromptEmbeddings& embeddings, const std::vector<int>& used);

}  // namespace gen::pipeline
