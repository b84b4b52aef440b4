# The rooms of src/ (ARCHITECTURE.md): one folder, one static library each.
#
# ticketq_room(<room> [USES <room>...] [SEES <room>/<header>.h...]
#              [LIBS <link items>...] [SOURCES <extra files>...]
#              [EXCLUDE <files>...])
#   builds src/<room>/*.cpp (less EXCLUDE, plus SOURCES) into tq_<room>.
#   A file of the room may include the headers of its own room, of the rooms
#   it USES and of theirs, down; and the single headers it SEES, or a room
#   below it sees. ticketq_check_rooms() then makes every build check that
#   (cmake/layers.cmake), so an include the wrong way stops the build.

function(ticketq_room name)
  cmake_parse_arguments(R "" "" "USES;SEES;LIBS;SOURCES;EXCLUDE" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  foreach(f IN LISTS R_EXCLUDE)
    list(REMOVE_ITEM srcs ${PROJECT_SOURCE_DIR}/${f})
  endforeach()
  add_library(tq_${name} STATIC ${srcs} ${R_SOURCES})
  target_include_directories(tq_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  set(allowed ${name})
  foreach(u IN LISTS R_USES)
    get_property(known GLOBAL PROPERTY TICKETQ_ROOMS)
    if(NOT u IN_LIST known)
      message(FATAL_ERROR "room ${name} uses ${u}, which is not a room declared before it")
    endif()
    target_link_libraries(tq_${name} PUBLIC tq_${u})
    get_property(below GLOBAL PROPERTY TICKETQ_ALLOWED_${u})
    list(APPEND allowed ${below})
  endforeach()
  foreach(h IN LISTS R_SEES)
    string(REGEX REPLACE "/.*" "" r "${h}")
    target_link_libraries(tq_${name} PUBLIC tq_${r})
    list(APPEND allowed ${h})
  endforeach()
  if(R_LIBS)
    target_link_libraries(tq_${name} PUBLIC ${R_LIBS})
  endif()
  list(REMOVE_DUPLICATES allowed)
  set_property(GLOBAL PROPERTY TICKETQ_ALLOWED_${name} "${allowed}")
  set_property(GLOBAL APPEND PROPERTY TICKETQ_ROOMS ${name})
endfunction()

# Writes the rules of the rooms declared so far for cmake/layers.cmake and
# runs it before any room is compiled, again whenever a file of src/ changes.
function(ticketq_check_rooms)
  set(rules ${PROJECT_BINARY_DIR}/generated/rooms_rules.cmake)
  get_property(rooms GLOBAL PROPERTY TICKETQ_ROOMS)
  set(text "set(ROOMS \"${rooms}\")\n")
  foreach(r IN LISTS rooms)
    get_property(allowed GLOBAL PROPERTY TICKETQ_ALLOWED_${r})
    string(APPEND text "set(ALLOWED_${r} \"${allowed}\")\n")
  endforeach()
  file(GENERATE OUTPUT ${rules} CONTENT "${text}")
  set(TICKETQ_ROOMS_RULES ${rules} PARENT_SCOPE)
  file(GLOB_RECURSE files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/*)
  set(stamp ${PROJECT_BINARY_DIR}/generated/rooms.checked)
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DSRC=${PROJECT_SOURCE_DIR}/src -DRULES=${rules}
            -P ${PROJECT_SOURCE_DIR}/cmake/layers.cmake
    COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
    DEPENDS ${files} ${rules} ${PROJECT_SOURCE_DIR}/cmake/layers.cmake
    COMMENT "Checking the includes of src/'s rooms"
    VERBATIM)
  add_custom_target(ticketq_rooms_checked ALL DEPENDS ${stamp})
  foreach(r IN LISTS rooms)
    add_dependencies(tq_${r} ticketq_rooms_checked)
  endforeach()
endfunction()
