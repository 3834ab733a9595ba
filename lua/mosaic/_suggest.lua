--- suggest(word, names) -> the name in `names` closest to `word`, or nil when none is
-- close enough to be a plausible typo. For "did you mean" hints in errors. The rule is the
-- host's one (MosaicSupport's `Suggestion`), shared with roster errors and option names.
local host = require "mosaic._host"

return function(word, names)
  return host.suggest(word, names)
end
