#include "src/runtime/image_reference.h"

namespace sbx {

std::pair<std::string, std::string> split_image_reference(const std::string& ref) {
  if (auto at = ref.find('@'); at != std::string::npos) {
    return {ref.substr(0, at), ref.substr(at + 1)};
  }
  auto slash = ref.rfind('/');
  auto colon = ref.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    return {ref.substr(0, colon), ref.substr(colon + 1)};
  }
  return {ref, "latest"};
}

std::string registry_of(const std::string& repo) {
  auto slash = repo.find('/');
  if (slash == std::string::npos) return {};
  std::string first = repo.substr(0, slash);
  if (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
      first == "localhost") {
    return first;
  }
  return {};
}

std::string credentials_registry(const std::string& image) {
  return registry_of(split_image_reference(image).first);
}

}  // namespace sbx
