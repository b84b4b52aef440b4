// The files of web/ (the waiting room and the dashboard), compiled in by
// cmake/embed_web.cmake so the binary serves them with nothing beside it.
#pragma once

#include <optional>
#include <string_view>

namespace ticketq {

// The contents of web/<name>, or nullopt for a name that is not one of them.
std::optional<std::string_view> web_file(std::string_view name);

}  // namespace ticketq
