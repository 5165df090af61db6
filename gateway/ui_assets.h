// The console page's static files (ui/), built into the server by
// gateway/embed_ui.cmake and served at /ui, /ui/app.js and /ui/style.css.
//
// Thread-safety: immutable data.
#ifndef DELTAKV_GATEWAY_UI_ASSETS_H_
#define DELTAKV_GATEWAY_UI_ASSETS_H_

#include <span>
#include <string_view>

namespace deltakv::gateway {

struct UiAsset {
  std::string_view path;          // the URL path, e.g. "/ui/app.js"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view body;          // the file's bytes
};

// Every file of the page; static storage.
std::span<const UiAsset> UiAssets();

// The file served at `path`, or nullptr.
inline const UiAsset* FindUiAsset(std::string_view path) {
  for (const UiAsset& a : UiAssets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

}  // namespace deltakv::gateway

#endif  // DELTAKV_GATEWAY_UI_ASSETS_H_
