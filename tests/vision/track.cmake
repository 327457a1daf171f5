# Tracker tests (src/vision/track.c): scripted trajectories with exact IDs,
# assignment against brute force, bounds; `vp_track_test --bench` is the
# benchmark (not a test).
add_executable(vp_track_test ${CMAKE_CURRENT_SOURCE_DIR}/track_test.c)
target_link_libraries(vp_track_test PRIVATE vidpipe m)
target_include_directories(vp_track_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
add_test(NAME tracker COMMAND vp_track_test)

if(Python3_FOUND)
  # Kalman filter predict/update against numpy and filterpy (skips, 77,
  # where those Python modules are missing).
  add_test(NAME tracker_kalman_ref
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/track_kalman_ref.py
                   --tool $<TARGET_FILE:vp_track_test>)
  set_tests_properties(tracker_kalman_ref PROPERTIES SKIP_RETURN_CODE 77)
endif()
