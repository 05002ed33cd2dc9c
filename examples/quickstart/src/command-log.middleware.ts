import type { Middleware } from 'potter';

/**
 * Command-bus middleware: prints each command its handler completed, with the command's id. It runs
 * after the built-in validation, so a rejected command never gets here; a command whose handler
 * throws is not printed either.
 */
export const commandLog: Middleware = async (context, next, handler) => {
  const result = await next();
  console.log(`  [command] ${context.type} handled by ${handler.handlerName} (command id ${context.id})`);
  return result;
};
