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
  const validatorOptions: ValidatorOptions = { forbidUnknownValues: false, ...options.validator };
  const hasConstraints = new Map<Function, boolean>();
  const needsValidation = (target: Function): boolean => {
    let known = hasConstraints.get(target);
    if (known === undefined) {
      known = getMetadataStorage().getTargetValidationMetadatas(target, '', true, false).length > 0;
      hasConstraints.set(target, known);
    }
    return known;
  };
  const middleware: Middleware = async (context, next) => {
    const errors = await validate(context.message as object, validatorOptions);
    if (errors.length > 0) throw new ValidationError(context.type, flattenViolations(errors));
    return next();
  };
  return { forHandler: (handler) => (needsValidation(handler.messageClass) ? middleware : undefined) };
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
