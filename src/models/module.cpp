#include "models/module.hpp"

namespace gen::models {

at::Tensor& Module::param(std::string name, std::vector<std::int64_t> shape) {
  params_.push_back(Param{std::move(name), std::move(shape), at::Tensor()});
  return params_.back().value;
}

void Module::visit(const Visitor& f, const std::string& prefix) {
  for (auto& p : params_) f(prefix + p.name, p);
  // A child with an empty name shares its parent's namespace.
  for (auto& [name, m] : children_) m->visit(f, name.empty() ? prefix : prefix + name + ".");
}

void Module::visit_modules(const std::function<void(const std::string&, Module&)>& f, const std::string& path) {
  f(path, *this);
  for (auto& [name, m] : children_)
    m->visit_modules(f, name.empty() ? path : path.empty() ? name : path + "." + name);
}

std::int64_t Module::parameter_count() {
  std::int64_t n = 0;
  visit([&](const std::string&, Param& p) {
    std::int64_t k = 1;
    for (auto d : p.shape) k *= d;
    n += k;
  });
  return n;
}

}  // namespace gen::models
