// A non-executing pickle reader: a small virtual machine for the opcodes of pickle
// protocols 0 to 5 that builds a tree of plain values and NEVER calls anything.
//
// Whatever the stream would import or call (GLOBAL, STACK_GLOBAL, INST, OBJ, REDUCE,
// NEWOBJ, BUILD, persistent ids) is handed to a PickleHooks object, which decides
// from an allow-list what plain value stands for it or refuses it
// (torch_checkpoint.cpp has the hooks for torch.save files). Extension-registry
// codes are always refused (UnsafeContent); out-of-band buffers are Unsupported.
//
// Malformed or hostile input ends in a gen::Error (InvalidFormat unless the hooks
// say otherwise), never in a crash: every read is bounds-checked, memory is bounded
// by the input size and by the limits below, and nothing recurses on the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace gen::io {
namespace pickle {

enum class Kind : std::uint8_t {
  None, Bool, Int, BigInt, Float, Str, Bytes,
  Tuple, List, Dict, Set,
  Global,   // something the hooks resolved from GLOBAL / STACK_GLOBAL
  Storage,  // a torch storage reached through a persistent id
  Tensor,   // a torch tensor rebuilt from a storage
};

struct Value {
  Kind kind = Kind::None;
  bool b = false;        // Bool
  std::int64_t i = 0;    // Int; Global: the hooks' tag; Storage / Tensor: the hooks' index
  double f = 0.0;        // Float
  std::string s;         // Str (UTF-8), Bytes; Global: "module.qualname"; BigInt: byte count
  std::vector<Value*> items;  // Tuple, List, Set; Dict: key, value, key, value, ...
  // Dict: identity of each hashable plain key → index of the key in `items`.
  std::unique_ptr<std::unordered_map<std::string, std::size_t>> keys;
};

// Owns every value of one unpickling; values point at each other with raw
// pointers (cycles are harmless: nothing is reference-counted or freed early).
class Arena {
 public:
  explicit Arena(std::size_t max_values = 4u << 20) : max_values_(max_values) {
    true_.kind = false_.kind = Kind::Bool;
    true_.b = true;
  }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Value* make(Kind kind);  // InvalidFormat (via the VM) once max_values is reached
  Value* none() { return &none_; }
  Value* boolean(bool v) { return v ? &true_ : &false_; }
  std::size_t size() const noexcept { return values_.size(); }
  bool full() const noexcept { return values_.size() >= max_values_; }

 private:
  std::deque<Value> values_;
  std::size_t max_values_;
  Value none_, true_, false_;
};

class PickleHooks {
 public:
  virtual ~PickleHooks() = default;
  // GLOBAL module name / STACK_GLOBAL / INST: a Global value, or throw (UnsafeContent).
  virtual Value* find_class(Arena& arena, const std::string& module, const std::string& name) = 0;
  // REDUCE / NEWOBJ / NEWOBJ_EX / INST / OBJ: `callable` applied to the tuple `args`.
  // `opcode` names the opcode for messages.
  virtual Value* call(Arena& arena, Value* callable, Value* args, const char* opcode) = 0;
  // BUILD: `state` applied to `object`.
  virtual void build(Arena& arena, Value* object, Value* state) = 0;
  // PERSID / BINPERSID.
  virtual Value* persistent_load(Arena& arena, Value* pid) = 0;
};

struct PickleLimits {
  std::size_t max_bytes = 64u << 20;     // the pickle stream itself
  std::size_t max_memo = 4u << 20;       // memo entries
  std::size_t max_stack = 4u << 20;      // values on the stack (all marks together)
};

// Runs the stream to its STOP opcode and returns the value it produced; `consumed`
// (when given) receives the offset just past STOP.
// Errors name `subject` (the file) and `where` (e.g. the archive entry) and the
// offset of the opcode at fault.
Value* run_pickle(const std::uint8_t* bytes, std::size_t size, Arena& arena, PickleHooks& hooks,
                  const std::string& subject, const std::string& where,
                  const PickleLimits& limits = {}, std::size_t* consumed = nullptr);

// A short description of a value for messages: "int 5", "str 'abc'", "dict of 3", ...
std::string describe(const Value* v);
// Identity of a hashable plain key (None, bool, int, float, str, bytes, tuples of
// those); empty when the value has none (also for a tuple nested deeper than 32 or
// whose identity would pass 64 KiB). 1 and True share one, as in Python.
std::string key_identity(const Value* v);
// Sets dict[key] = value, replacing an equal key as Python would.
// Returns false (and changes nothing) for an unhashable key (a list, dict or set).
bool dict_set(Value* dict, Value* key, Value* value);
// dict[key] for a str key, or nullptr.
Value* dict_get(const Value* dict, const std::string& key);

// Text helpers for the protocol-0 opcodes (pickle_text.cpp). Each returns false
// when the text is malformed.
bool parse_int_text(const std::string& text, std::int64_t& out, bool& too_big);
bool parse_float_text(const std::string& text, double& out);
bool decode_string_literal(const std::string& quoted, std::string& out);  // STRING
bool decode_raw_unicode_escape(const std::string& text, std::string& out_utf8);  // UNICODE
bool valid_utf8(const std::string& s) noexcept;

}  // namespace pickle
}  // namespace gen::io
