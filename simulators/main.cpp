// ccrec-pbxsim: a PBX simulator that drives the engine over CTI and RTP.
#include <iostream>

#include "simulators/cli.hpp"

int main(int argc, char** argv) {
  return ccrec::pbxsim::pbxsim_main(argc, argv, std::cout);
}
