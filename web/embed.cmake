# Writes OUT, a C++ file defining grove::web::index_html() from the contents of IN.
file(READ ${IN} CONTENT)
string(FIND "${CONTENT}" ")grove_asset\"" CLASH)
if(NOT CLASH EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter")
endif()
file(WRITE ${OUT} "#include \"web/assets.h\"\nnamespace grove::web {\nstatic const char kIndexHtml[] = R\"grove_asset(${CONTENT})grove_asset\";\nstd::string_view index_html() { return {kIndexHtml, sizeof kIndexHtml - 1}; }\n}  // namespace grove::web\n")
