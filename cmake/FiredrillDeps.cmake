# Every dependency comes from Debian's packages; scripts/test.sh installs them.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS program_options)
find_package(Protobuf REQUIRED)
find_package(spdlog REQUIRED)
find_package(GTest REQUIRED)
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf>=1.1)
pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET grpc++>=1.51)
pkg_check_modules(YAMLCPP REQUIRED IMPORTED_TARGET yaml-cpp)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
# The PostgreSQL store for several controllers (controller/store/postgres_store.h).
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
# Probe regexes: a linear-time engine (controller/experiment/text_match.h).
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
# sd_notify: READY and WATCHDOG for the systemd units (deploy/systemd).
pkg_check_modules(LIBSYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
find_package(OpenSSL REQUIRED)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
# Experiments: HTTP/Prometheus probes, JSON, time zones for schedules (tzdata).
find_package(CURL REQUIRED)
# /metrics served over HTTP by the daemons (common/metrics).
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(date REQUIRED CONFIG)
