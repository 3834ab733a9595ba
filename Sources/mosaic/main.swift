// The mosaic executable: everything lives in MosaicHost; this only hands it argv.
import MosaicHost

#if canImport(Glibc)
  import Glibc
#endif

exit(MosaicCLI.main(Array(CommandLine.arguments.dropFirst())))
