# cmake -DSRC=<src dir> -DRULES=<rules file> -P layers.cmake
#
# Fails (and names each offence) when a file of src/<room>/ includes a
# header of a room its room may not see, includes a project header without
# its room ("foo.h" for "room/foo.h"), or when a file of src/ lies outside
# the rooms. The rules (ROOMS, ALLOWED_<room>) are written by
# ticketq_check_rooms() in cmake/rooms.cmake from the rooms' declarations.
cmake_minimum_required(VERSION 3.20)
include(${RULES})
set(offences "")
file(GLOB loose LIST_DIRECTORIES true RELATIVE ${SRC} ${SRC}/*)
foreach(entry IN LISTS loose)
  if(NOT entry IN_LIST ROOMS)
    list(APPEND offences "src/${entry}: not in a room of CMakeLists.txt")
  endif()
endforeach()
foreach(room IN LISTS ROOMS)
  file(GLOB files RELATIVE ${SRC} ${SRC}/${room}/*)
  foreach(f IN LISTS files)
    file(STRINGS ${SRC}/${f} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line IN LISTS lines)
      string(REGEX MATCH "\"([^\"]*)\"" quoted "${line}")
      set(header "${CMAKE_MATCH_1}")
      if(NOT header MATCHES "^([a-z_]+)/[^/]+$")
        list(APPEND offences "src/${f}: includes \"${header}\", not \"<room>/<header>\"")
        continue()
      endif()
      set(to ${CMAKE_MATCH_1})
      if(NOT to IN_LIST ALLOWED_${room} AND NOT header IN_LIST ALLOWED_${room})
        string(REPLACE ";" ", " seen "${ALLOWED_${room}}")
        list(APPEND offences "src/${f}: includes ${header}; room ${room} sees only ${seen}")
      endif()
    endforeach()
  endforeach()
endforeach()
if(offences)
  list(JOIN offences "\n  " text)
  message(FATAL_ERROR "includes across the rooms the wrong way (ARCHITECTURE.md):\n  ${text}")
endif()
