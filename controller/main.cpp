// firedrill: the controller daemon (`firedrill serve`) and the operators' CLI.
#include "controller/cli/cli.h"

int main(int argc, char** argv) { return firedrill::controller::cli_main(argc, argv); }
