// The dashboard's front end, served from the binary: one page shell (the page's name,
// the person, their roles and the CSRF token in <meta> and data- attributes; no inline
// script), the login page, one style sheet and one script. Plain HTML, CSS and
// JavaScript: no library, nothing fetched from anywhere but this controller.
// kPageShell and kLoginPage are fmt format strings (web_server.cpp fills them).
#pragma once

namespace firedrill::controller::web {

extern const char* const kPageShell;  // {page} {id} {identity} {roles} {csrf} {leader} {controller}
extern const char* const kLoginPage;  // {message}
extern const char* const kAppJs;
extern const char* const kStyleCss;

}  // namespace firedrill::controller::web
