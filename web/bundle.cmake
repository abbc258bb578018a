# Runs web/build.mjs (esbuild) to bundle web/src into OUT. Fails with a clear message when node
# or the npm packages are missing, rather than with a bundler stack trace.
if(NOT NODE OR NOT EXISTS "${NODE}")
  message(FATAL_ERROR "web: node not found; run scripts/setup (it installs nodejs and npm)")
endif()
if(NOT EXISTS "${SRC}/node_modules/esbuild/package.json" OR NOT EXISTS "${SRC}/node_modules/.package-lock.json")
  message(FATAL_ERROR "web: ${SRC}/node_modules is missing; run scripts/setup (or `npm ci` in web/)")
endif()
execute_process(COMMAND "${NODE}" "${SRC}/build.mjs" --out "${OUT}" WORKING_DIRECTORY "${SRC}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "web: bundling failed (node build.mjs exited with ${rc})")
endif()
