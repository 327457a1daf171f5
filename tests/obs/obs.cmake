# Profiler and GPU-monitor tests (included from tests/obs/CMakeLists.txt).
#   obs_trace        span recorder + Chrome-trace export (C checks)
#   obs_trace_json   the exported trace's structure as Perfetto expects (Python)
#   obs_nvml         NVML monitor: absent-NVML behaviour and the monitor's logic on a
#                    fake source always; one real sample where NVML exists (77 otherwise)
#   obs_nvml_vs_smi  the monitor's readings against nvidia-smi in the same run (gpu)
add_executable(vp_trace_test ${CMAKE_CURRENT_LIST_DIR}/trace_test.c)
target_include_directories(vp_trace_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(vp_trace_test PRIVATE vidpipe pthread)
add_test(NAME obs_trace COMMAND vp_trace_test)

add_executable(vp_nvml_test ${CMAKE_CURRENT_LIST_DIR}/nvml_test.c)
target_include_directories(vp_nvml_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(vp_nvml_test PRIVATE vidpipe pthread)
add_test(NAME obs_nvml COMMAND vp_nvml_test)
set_tests_properties(obs_nvml PROPERTIES SKIP_RETURN_CODE 77)

find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND)
  add_test(NAME obs_trace_json
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/trace_check.py --test $<TARGET_FILE:vp_trace_test>)
  add_test(NAME obs_nvml_vs_smi
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/nvml_vs_smi.py --test $<TARGET_FILE:vp_nvml_test>)
  set_tests_properties(obs_nvml_vs_smi PROPERTIES SKIP_RETURN_CODE 77 LABELS gpu TIMEOUT 120)
endif()
