#!/usr/bin/env node
'use strict';
require('../dist/cjs/cli/run-cli.js').main('potter');
