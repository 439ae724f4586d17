#!/usr/bin/env node
'use strict';
require('../dist/node/src/cli/main.js').main(process.argv);
