# Encoder, snapshots and drawing (src/media/encode.c, src/vision/draw.c):
# vp_encode_test runs the self-contained checks (drawing edge cases with
# sentinels, error paths) and writes the files that encode_ref.py checks
# with the ffmpeg CLI and numpy. Included from CMakeLists.txt only in builds
# with FFmpeg. encode_ref.py skips (77) without ffmpeg/ffprobe or numpy.
add_executable(vp_encode_test ${CMAKE_CURRENT_SOURCE_DIR}/encode_test.c)
target_link_libraries(vp_encode_test PRIVATE vidpipe m)
target_include_directories(vp_encode_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
add_test(NAME draw_edges COMMAND vp_encode_test edges)
set_tests_properties(draw_edges PROPERTIES LABELS media TIMEOUT 300)
if(Python3_FOUND)
  add_test(NAME media_encode_ref
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/encode_ref.py
                   --tool $<TARGET_FILE:vp_encode_test>)
  set_tests_properties(media_encode_ref PROPERTIES SKIP_RETURN_CODE 77 LABELS media TIMEOUT 600)
endif()
