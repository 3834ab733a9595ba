// MosaicHost
