// The pages' security headers (src/frontend/api_pages.cpp).
#include <gtest/gtest.h>

#include <string>

#include "frontend/api.h"

namespace ticketq {
namespace {

std::string form_action(const std::string& booking_url) {
  std::string h = page_headers(booking_url);
  size_t at = h.find("form-action ");
  if (at == std::string::npos) return "(none)";
  at += 12;
  return h.substr(at, h.find(';', at) - at);
}

// Forms post to this site, and to the booking site's origin (the
// admission hand-over), nowhere else.
TEST(PageHeaders, FormsGoToThisSiteAndTheBookingOrigin) {
  EXPECT_EQ(form_action(""), "'self'");
  EXPECT_EQ(form_action("/book"), "'self'");
  EXPECT_EQ(form_action("https://book.example/b?x=1"), "'self' https://book.example");
  EXPECT_EQ(form_action("http://127.0.0.1:9/book"), "'self' http://127.0.0.1:9");
  EXPECT_EQ(form_action("https://[::1]:8443#x"), "'self' https://[::1]:8443");
  EXPECT_EQ(form_action("https://book.example"), "'self' https://book.example");
  // A path that names a URL further on adds nothing: no other directive
  // can be slipped into the policy.
  std::string h = page_headers("/x; script-src-elem *; a=http://h");
  EXPECT_EQ(form_action("/x; script-src-elem *; a=http://h"), "'self'");
  EXPECT_EQ(h.find("script-src-elem"), std::string::npos) << h;
  EXPECT_EQ(h.find("/x"), std::string::npos) << h;
}

TEST(PageHeaders, TheRestIsStrict) {
  std::string h = page_headers("https://book.example/b");
  for (const char* part :
       {"Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; ",
        "frame-ancestors 'none'\r\n", "X-Content-Type-Options: nosniff\r\n",
        "X-Frame-Options: DENY\r\n", "Referrer-Policy: no-referrer\r\n"})
    EXPECT_NE(h.find(part), std::string::npos) << part;
  EXPECT_EQ(h.find("unsafe"), std::string::npos);
}

}  // namespace
}  // namespace ticketq
