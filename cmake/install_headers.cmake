# Run by cmake --install (CMakeLists.txt sets the QKV_* variables): installs the library's
# headers under <prefix>/include/qkv with their includes of one another, "core/tensor.h" in
# the source tree, rewritten to <qkv/core/tensor.h>. A consumer's include path then holds
# <prefix>/include only, and every qkv header is reached as <qkv/...>.
string(REPLACE ";" "|" dirs "${QKV_HEADER_DIRS}")
foreach(header IN LISTS QKV_HEADERS)
  file(READ ${QKV_SOURCE_DIR}/${header} text)
  string(REGEX REPLACE "#include \"((${dirs})/[^\"]+|qkv\\.h|cli\\.h)\"" "#include <qkv/\\1>" text "${text}")
  get_filename_component(dir ${header} DIRECTORY)
  file(WRITE ${QKV_STAGING_DIR}/${header} "${text}")
  # file(INSTALL) adds DESTDIR and records the file in install_manifest.txt, as install(FILES) would.
  file(INSTALL DESTINATION ${CMAKE_INSTALL_PREFIX}/${QKV_INCLUDE_DESTINATION}/${dir} TYPE FILE
       FILES ${QKV_STAGING_DIR}/${header})
endforeach()
