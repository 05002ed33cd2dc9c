import {
  getMetadataStorage,
  validate,
  type ValidationError as ClassValidatorError,
  type ValidatorOptions,
} from 'class-validator';
import { ValidationError, type FieldViolation } from '../../core';
import type { Middleware, MiddlewareFactory } from '../middleware';

/** Options of {@link validationMiddleware}. */
export interface ValidationMiddlewareOptions {
  /** Passed to class-validator. @default { forbidUnknownValues: false } */
  validator?: ValidatorOptions;
}

/**
 * Validates each message with class-validator before its handler runs; an invalid one is rejected
 * with `ValidationError` listing every failed field (nested fields as dotted paths). Classes with
 * no constraints are skipped at no cost.
 */
export function validationMiddleware(options: ValidationMiddlewareOptions = {}): MiddlewareFactory {
  const validator = createMessageValidator(options);
  const middleware: Middleware = async (context, next) => {
    await validator.validate(context.message as object, context.type);
    return next();
  };
  return {
    forHandler: (handler) => (validator.hasConstraints(handler.messageClass) ? middleware : undefined),
  };
}

/** Validates messages with class-validator, skipping classes without constraints. */
export interface MessageValidator {
  /** True when the class declares class-validator constraints (cached per class). */
  hasConstraints(target: Function): boolean;
  /** Resolves when `message` is valid; rejects with `ValidationError` listing every field otherwise. */
  validate(message: object, messageType: string): Promise<void>;
}

/** Creates a {@link MessageValidator}. */
export function createMessageValidator(options: ValidationMiddlewareOptions = {}): MessageValidator {
  const validatorOptions: ValidatorOptions = { forbidUnknownValues: false, ...options.validator };
  const known = new Map<Function, boolean>();
  const hasConstraints = (target: Function): boolean => {
    let result = known.get(target);
    if (result === undefined) {
      result = getMetadataStorage().getTargetValidationMetadatas(target, '', true, false).length > 0;
      known.set(target, result);
    }
    return result;
  };
  return {
    hasConstraints,
    async validate(message, messageType) {
      if (!hasConstraints(message.constructor)) return;
      const errors = await validate(message, validatorOptions);
      if (errors.length > 0) throw new ValidationError(messageType, flattenViolations(errors));
    },
  };
}

/** Turns class-validator's tree of errors into a flat list of field violations. */
export function flattenViolations(errors: ClassValidatorError[], prefix = ''): FieldViolation[] {
  const out: FieldViolation[] = [];
  for (const error of errors) {
    const path = prefix ? `${prefix}.${error.property}` : error.property;
    if (error.constraints && Object.keys(error.constraints).length > 0) {
      out.push({ path, value: error.value, constraints: { ...error.constraints } });
    }
    if (error.children && error.children.length > 0) out.push(...flattenViolations(error.children, path));
  }
  return out;
}
