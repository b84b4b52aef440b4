// The API description (docs/openapi.yaml), compiled in and served at
// GET /openapi.yaml.
#pragma once

#include <string_view>

namespace ticketq {

std::string_view openapi_yaml();

}  // namespace ticketq
