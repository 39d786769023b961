//! The registration of every `ic0` function with the linker: one `func_wrap` each, grouped
//! by family in the order of the spec. The helpers they call live in the parent module.

use wasmtime::{Caller, Linker};

use super::*;

pub(super) fn link_common<P: Ptr>(linker: &mut Linker<StoreData>) -> Res<()> {
    // Method arguments and caller.
    blob::<P>(linker, MSG_ARG_DATA_SIZE, MSG_ARG_DATA_COPY, src_arg)?;
    blob::<P>(linker, MSG_CALLER_SIZE, MSG_CALLER_COPY, src_caller)?;
    blob::<P>(
        linker,
        MSG_CALLER_INFO_DATA_SIZE,
        MSG_CALLER_INFO_DATA_COPY,
        src_caller_info_data,
    )?;
    blob::<P>(
        linker,
        MSG_CALLER_INFO_SIGNER_SIZE,
        MSG_CALLER_INFO_SIGNER_COPY,
        src_caller_info_signer,
    )?;
    linker.func_wrap(
        "ic0",
        MSG_REJECT_CODE.name,
        |mut c: Caller<'_, StoreData>| -> Res<i32> {
            run(&mut c, &MSG_REJECT_CODE, 0, |api, _| {
                Ok(match api.kind {
                    EntryKind::RejectCallback | EntryKind::Cleanup => {
                        api.env.reject.as_ref().map_or(0, |(code, _)| *code as i32)
                    }
                    _ => 0,
                })
            })
        },
    )?;
    blob::<P>(
        linker,
        MSG_REJECT_MSG_SIZE,
        MSG_REJECT_MSG_COPY,
        src_reject_msg,
    )?;
    linker.func_wrap(
        "ic0",
        MSG_DEADLINE.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            run(&mut c, &MSG_DEADLINE, 0, |api, _| Ok(api.env.deadline))
        },
    )?;

    // Responding.
    linker.func_wrap(
        "ic0",
        MSG_REPLY_DATA_APPEND.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P| -> Res<()> {
            let (src, size) = (src.get(), size.get());
            run_heap(&mut c, &MSG_REPLY_DATA_APPEND, size.saturating_mul(BYTE_TRANSMISSION_COST), |heap, api, _| {
                if api.response.is_some() || api.env.responded {
                    return Err(contract("ic0.msg_reply_data_append: the call is already replied."));
                }
                let max = max_reply(api.kind);
                let total = (api.reply_buf.len() as u64).saturating_add(size);
                if total > max {
                    return Err(contract(format!(
                        "ic0.msg_reply_data_append: application payload size ({total}) cannot be larger than {max}."
                    )));
                }
                api.reply_buf.extend_from_slice(read_heap(heap, src, size)?);
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MSG_REPLY.name,
        |mut c: Caller<'_, StoreData>| -> Res<()> {
            run(&mut c, &MSG_REPLY, 0, |api, _| {
                if api.response.is_some() || api.env.responded {
                    return Err(contract("ic0.msg_reply: the call is already replied"));
                }
                api.response = Some(Outcome::Reply(std::mem::take(&mut api.reply_buf)));
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MSG_REJECT.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P| -> Res<()> {
            let (src, size) = (src.get(), size.get());
            run_heap(
                &mut c,
                &MSG_REJECT,
                size.saturating_mul(BYTE_TRANSMISSION_COST),
                |heap, api, _| {
                    if api.response.is_some() || api.env.responded {
                        return Err(contract("ic0.msg_reject: the call is already replied"));
                    }
                    let max = max_reply(api.kind);
                    if size > max {
                        return Err(contract(format!(
                    "ic0.msg_reject: application payload size ({size}) cannot be larger than {max}."
                )));
                    }
                    let msg = std::str::from_utf8(read_heap(heap, src, size)?)
                        .map_err(|_| contract("ic0.msg_reject: invalid UTF-8 string provided"))?
                        .to_string();
                    api.reply_buf.clear();
                    api.response = Some(Outcome::Reject(msg));
                    Ok(())
                },
            )
        },
    )?;

    // Cycles of the call.
    linker.func_wrap(
        "ic0",
        MSG_CYCLES_AVAILABLE128.name,
        |mut c: Caller<'_, StoreData>, dst: P| -> Res<()> {
            run_heap(&mut c, &MSG_CYCLES_AVAILABLE128, 0, |heap, api, _| {
                write_u128(heap, dst.get(), available(api))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MSG_CYCLES_REFUNDED128.name,
        |mut c: Caller<'_, StoreData>, dst: P| -> Res<()> {
            run_heap(&mut c, &MSG_CYCLES_REFUNDED128, 0, |heap, api, _| {
                write_u128(heap, dst.get(), api.env.cycles_refunded)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MSG_CYCLES_ACCEPT128.name,
        |mut c: Caller<'_, StoreData>, high: u64, low: u64, dst: P| -> Res<()> {
            run_heap(&mut c, &MSG_CYCLES_ACCEPT128, 0, |heap, api, _| {
                heap_range(heap, dst.get(), 16)?;
                let amount = accept(api, cycles(high, low));
                write_u128(heap, dst.get(), amount)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CYCLES_BURN128.name,
        |mut c: Caller<'_, StoreData>, high: u64, low: u64, dst: P| -> Res<()> {
            run_heap(&mut c, &CYCLES_BURN128, 0, |heap, api, _| {
                heap_range(heap, dst.get(), 16)?;
                // Burned cycles leave the balance the message started with; the embedder
                // reads the new balance back from `api.env.cycles_balance`.
                let burned = cycles(high, low).min(api.env.cycles_balance);
                api.env.cycles_balance -= burned;
                write_u128(heap, dst.get(), burned)
            })
        },
    )?;

    // The canister itself.
    blob::<P>(linker, CANISTER_SELF_SIZE, CANISTER_SELF_COPY, src_self)?;
    linker.func_wrap(
        "ic0",
        CANISTER_CYCLE_BALANCE128.name,
        |mut c: Caller<'_, StoreData>, dst: P| -> Res<()> {
            run_heap(&mut c, &CANISTER_CYCLE_BALANCE128, 0, |heap, api, _| {
                write_u128(heap, dst.get(), balance(api))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CANISTER_LIQUID_CYCLE_BALANCE128.name,
        |mut c: Caller<'_, StoreData>, dst: P| -> Res<()> {
            // Interface spec, "Cycles": what calls and executions can spend, the balance
            // above the freezing threshold (nothing is ever reserved: ARCHITECTURE.md,
            // "Fidelity").
            run_heap(
                &mut c,
                &CANISTER_LIQUID_CYCLE_BALANCE128,
                0,
                |heap, api, _| {
                    let liquid = balance(api).saturating_sub(api.env.freezing_threshold);
                    write_u128(heap, dst.get(), liquid)
                },
            )
        },
    )?;
    linker.func_wrap(
        "ic0",
        CANISTER_STATUS.name,
        |mut c: Caller<'_, StoreData>| -> Res<i32> {
            run(&mut c, &CANISTER_STATUS, 0, |api, _| {
                // 0 is no status; an unset field means running.
                Ok(match api.env.canister_status {
                    0 => 1,
                    s => i32::try_from(s).unwrap_or(1),
                })
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CANISTER_VERSION.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            run(&mut c, &CANISTER_VERSION, 0, |api, _| {
                Ok(api.env.canister_version)
            })
        },
    )?;
    blob::<P>(linker, SUBNET_SELF_SIZE, SUBNET_SELF_COPY, src_subnet)?;

    // Ingress message inspection.
    blob::<P>(
        linker,
        MSG_METHOD_NAME_SIZE,
        MSG_METHOD_NAME_COPY,
        src_method_name,
    )?;
    linker.func_wrap(
        "ic0",
        ACCEPT_MESSAGE.name,
        |mut c: Caller<'_, StoreData>| -> Res<()> {
            run(&mut c, &ACCEPT_MESSAGE, 0, |api, _| {
                if api.accepted {
                    return Err(contract(
                        "ic0.accept_message: the function was already called.",
                    ));
                }
                api.accepted = true;
                Ok(())
            })
        },
    )?;

    // Inter-canister calls (spec "Inter-canister method calls"): assembled in the message's
    // state; the replica routes the performed ones after the message commits.
    linker.func_wrap(
        "ic0",
        CALL_NEW.name,
        |mut c: Caller<'_, StoreData>,
         callee_src: P,
         callee_size: P,
         name_src: P,
         name_size: P,
         reply_fun: P,
         reply_env: P,
         reject_fun: P,
         reject_env: P|
         -> Res<()> {
            let bytes = callee_size.get().saturating_add(name_size.get());
            run_heap(&mut c, &CALL_NEW, bytes, |heap, api, _| {
                let callee = read_heap(heap, callee_src.get(), callee_size.get())?.to_vec();
                if callee.len() > principal::MAX_PRINCIPAL_BYTES {
                    return Err(contract(format!(
                        "ic0.call_new: invalid principal id of {} bytes (at most {} are allowed)",
                        callee.len(),
                        principal::MAX_PRINCIPAL_BYTES
                    )));
                }
                let method = std::str::from_utf8(read_heap(heap, name_src.get(), name_size.get())?)
                    .map_err(|_| contract("ic0.call_new: invalid UTF-8 method name"))?
                    .to_string();
                // A call still being assembled is abandoned, as on the IC.
                api.building = Some(OutgoingCall {
                    callee,
                    method,
                    reply: Closure {
                        fun: reply_fun.get(),
                        env: reply_env.get(),
                    },
                    reject: Closure {
                        fun: reject_fun.get(),
                        env: reject_env.get(),
                    },
                    ..OutgoingCall::default()
                });
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CALL_ON_CLEANUP.name,
        |mut c: Caller<'_, StoreData>, fun: P, env: P| -> Res<()> {
            run(&mut c, &CALL_ON_CLEANUP, 0, |api, _| {
                let call = building(api, "call_on_cleanup")?;
                if call.cleanup.is_some() {
                    return Err(contract(
                        "ic0.call_on_cleanup: the cleanup callback is already set",
                    ));
                }
                call.cleanup = Some(Closure {
                    fun: fun.get(),
                    env: env.get(),
                });
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CALL_DATA_APPEND.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P| -> Res<()> {
            let cost = size.get().saturating_mul(BYTE_TRANSMISSION_COST);
            run_heap(&mut c, &CALL_DATA_APPEND, cost, |heap, api, _| {
                let data = read_heap(heap, src.get(), size.get())?;
                let call = building(api, "call_data_append")?;
                let total = (call.payload.len() as u64).saturating_add(size.get());
                if total > MAX_REPLY_REPLICATED {
                    return Err(contract(format!(
                        "ic0.call_data_append: the payload size ({total}) cannot be larger than {MAX_REPLY_REPLICATED}."
                    )));
                }
                call.payload.extend_from_slice(data);
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CALL_WITH_BEST_EFFORT_RESPONSE.name,
        |mut c: Caller<'_, StoreData>, timeout_seconds: u32| -> Res<()> {
            run(&mut c, &CALL_WITH_BEST_EFFORT_RESPONSE, 0, |api, _| {
                let call = building(api, "call_with_best_effort_response")?;
                if call.timeout_seconds.is_some() {
                    return Err(contract(
                        "ic0.call_with_best_effort_response: the timeout is already set",
                    ));
                }
                call.timeout_seconds = Some(timeout_seconds.clamp(1, MAX_CALL_TIMEOUT_SECONDS));
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CALL_CYCLES_ADD128.name,
        |mut c: Caller<'_, StoreData>, high: u64, low: u64| -> Res<()> {
            run(&mut c, &CALL_CYCLES_ADD128, 0, |api, _| {
                add_call_cycles(api, cycles(high, low), "call_cycles_add128")
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CALL_PERFORM.name,
        |mut c: Caller<'_, StoreData>| -> Res<i32> {
            run(&mut c, &CALL_PERFORM, 0, |api, _| {
                let call = api
                    .building
                    .take()
                    .ok_or_else(|| contract("ic0.call_perform: no call is being assembled"))?;
                // "Cycles costs": the call's fees are taken in advance, above the freezing
                // threshold; a canister that cannot pay them does not make the call, and
                // keeps the cycles it attached (the spec's non-zero result).
                let fee = if api.kind.is_replicated() {
                    fees::call(call.method.len() as u64, call.payload.len() as u64)
                } else {
                    0
                };
                let spendable = balance(api).saturating_sub(api.env.freezing_threshold);
                if call.cycles.saturating_add(fee) > spendable {
                    return Ok(CALL_PERFORM_FAILED);
                }
                api.cycles_sent = api.cycles_sent.saturating_add(call.cycles);
                api.call_fees_prepaid = api.call_fees_prepaid.saturating_add(fee);
                api.calls.push(call);
                Ok(0)
            })
        },
    )?;

    // 64-bit stable memory.
    linker.func_wrap(
        "ic0",
        STABLE64_SIZE.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            run(&mut c, &STABLE64_SIZE, 0, |_, stable| {
                Ok(stable.size_pages())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE64_GROW.name,
        |mut c: Caller<'_, StoreData>, pages: u64| -> Res<u64> {
            run(&mut c, &STABLE64_GROW, 0, |api, stable| {
                Ok(stable
                    .grow(pages, api.limits.stable_max)
                    .unwrap_or(u64::MAX))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE64_WRITE.name,
        |mut c: Caller<'_, StoreData>, offset: u64, src: u64, size: u64| -> Res<()> {
            run_stable_write(&mut c, &STABLE64_WRITE, (offset, src, size), false)
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE64_READ.name,
        |mut c: Caller<'_, StoreData>, dst: u64, offset: u64, size: u64| -> Res<()> {
            run_heap(&mut c, &STABLE64_READ, size, |heap, api, stable| {
                stable_read(heap, api, stable, dst, offset, size)
            })
        },
    )?;

    // Certification.
    blob::<P>(linker, ROOT_KEY_SIZE, ROOT_KEY_COPY, src_root_key)?;
    linker.func_wrap(
        "ic0",
        CERTIFIED_DATA_SET.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P| -> Res<()> {
            let (src, size) = (src.get(), size.get());
            run_heap(&mut c, &CERTIFIED_DATA_SET, size, |heap, api, _| {
                if size > CERTIFIED_DATA_MAX {
                    return Err(contract(format!(
                    "ic0_certified_data_set failed because the passed data must be no larger than \
                     {CERTIFIED_DATA_MAX} bytes. Found {size} bytes."
                )));
                }
                api.certified_data = read_heap(heap, src, size)?.to_vec();
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        DATA_CERTIFICATE_PRESENT.name,
        |mut c: Caller<'_, StoreData>| -> Res<i32> {
            run(&mut c, &DATA_CERTIFICATE_PRESENT, 0, |api, _| {
                let queried = matches!(api.kind, EntryKind::Query | EntryKind::CompositeQuery);
                Ok(i32::from(queried && api.env.data_certificate.is_some()))
            })
        },
    )?;
    blob::<P>(
        linker,
        DATA_CERTIFICATE_SIZE,
        DATA_CERTIFICATE_COPY,
        src_certificate,
    )?;

    // Time, timer, counters.
    linker.func_wrap(
        "ic0",
        TIME.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            run(&mut c, &TIME, 0, |api, _| Ok(api.env.time_nanos))
        },
    )?;
    linker.func_wrap(
        "ic0",
        GLOBAL_TIMER_SET.name,
        |mut c: Caller<'_, StoreData>, timestamp: u64| -> Res<u64> {
            run(&mut c, &GLOBAL_TIMER_SET, 0, |api, _| {
                Ok(std::mem::replace(&mut api.global_timer, timestamp))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        PERFORMANCE_COUNTER.name,
        |mut c: Caller<'_, StoreData>, kind: u32| -> Res<u64> {
            let sys = &PERFORMANCE_COUNTER;
            enter(&mut c, sys, 0).map_err(wasmtime::Error::new)?;
            let fuel = c.get_fuel().ok();
            let (api, _) = parts(c.data_mut(), sys).map_err(wasmtime::Error::new)?;
            // Interface spec, "Performance counter": type 0 counts this execution, type 1
            // also the earlier executions of its call context (the message, callbacks).
            let here = fuel.map_or(0, |f| api.instruction_limit.saturating_sub(f));
            match kind {
                0 => Ok(here),
                1 => Ok(here.saturating_add(api.env.call_context_instructions)),
                _ => Err(wasmtime::Error::new(contract(format!(
                    "Error getting performance counter type {kind}"
                )))),
            }
        },
    )?;
    linker.func_wrap(
        "ic0",
        IS_CONTROLLER.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P| -> Res<i32> {
            let (src, size) = (src.get(), size.get());
            run_heap(&mut c, &IS_CONTROLLER, size, |heap, api, _| {
                let bytes = read_heap(heap, src, size)?;
                if bytes.len() > principal::MAX_PRINCIPAL_BYTES {
                    return Err(contract(format!(
                    "ic0.is_controller: invalid principal id of {} bytes (at most {} are allowed)",
                    bytes.len(),
                    principal::MAX_PRINCIPAL_BYTES
                )));
                }
                Ok(i32::from(
                    api.env.controllers.iter().any(|c| c.as_slice() == bytes),
                ))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        IN_REPLICATED_EXECUTION.name,
        |mut c: Caller<'_, StoreData>| -> Res<i32> {
            run(&mut c, &IN_REPLICATED_EXECUTION, 0, |api, _| {
                Ok(i32::from(api.kind.is_replicated()))
            })
        },
    )?;

    // Cycle costs.
    linker.func_wrap(
        "ic0",
        COST_CALL.name,
        |mut c: Caller<'_, StoreData>,
         method_name_size: u64,
         payload_size: u64,
         dst: P|
         -> Res<()> {
            run_heap(&mut c, &COST_CALL, 0, |heap, _, _| {
                write_u128(heap, dst.get(), fees::call(method_name_size, payload_size))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        COST_CREATE_CANISTER.name,
        |mut c: Caller<'_, StoreData>, dst: P| -> Res<()> {
            run_heap(&mut c, &COST_CREATE_CANISTER, 0, |heap, _, _| {
                write_u128(heap, dst.get(), fees::create_canister())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        COST_HTTP_REQUEST.name,
        |mut c: Caller<'_, StoreData>, request_size: u64, max_res_bytes: u64, dst: P| -> Res<()> {
            run_heap(&mut c, &COST_HTTP_REQUEST, 0, |heap, _, _| {
                write_u128(
                    heap,
                    dst.get(),
                    fees::http_request(request_size, max_res_bytes),
                )
            })
        },
    )?;
    link_cost_threshold::<P>(linker, &COST_SIGN_WITH_ECDSA, fees::Scheme::Ecdsa)?;
    link_cost_threshold::<P>(linker, &COST_SIGN_WITH_SCHNORR, fees::Scheme::Schnorr)?;
    link_cost_threshold::<P>(linker, &COST_VETKD_DERIVE_KEY, fees::Scheme::VetKd)?;

    // Environment variables.
    linker.func_wrap(
        "ic0",
        ENV_VAR_COUNT.name,
        |mut c: Caller<'_, StoreData>| -> Res<P> {
            run(&mut c, &ENV_VAR_COUNT, 0, |api, _| {
                P::from_size(env_vars(api).len(), &ENV_VAR_COUNT)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        ENV_VAR_NAME_SIZE.name,
        |mut c: Caller<'_, StoreData>, index: P| -> Res<P> {
            let sys = &ENV_VAR_NAME_SIZE;
            run(&mut c, sys, 0, |api, _| {
                P::from_size(env_var_index(api, index.get(), sys)?.0.len(), sys)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        ENV_VAR_NAME_COPY.name,
        |mut c: Caller<'_, StoreData>, index: P, dst: P, offset: P, size: P| -> Res<()> {
            let sys = &ENV_VAR_NAME_COPY;
            run_heap(&mut c, sys, size.get(), |heap, api, _| {
                let name = env_var_index(api, index.get(), sys)?.0.as_bytes();
                copy_out(heap, dst.get(), name, offset.get(), size.get(), sys)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        ENV_VAR_NAME_EXISTS.name,
        |mut c: Caller<'_, StoreData>, name_src: P, name_size: P| -> Res<i32> {
            let sys = &ENV_VAR_NAME_EXISTS;
            run_heap(&mut c, sys, name_size.get(), |heap, api, _| {
                let name = env_var_name(heap, name_src.get(), name_size.get(), sys)?;
                Ok(i32::from(env_vars(api).iter().any(|(n, _)| n == name)))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        ENV_VAR_VALUE_SIZE.name,
        |mut c: Caller<'_, StoreData>, name_src: P, name_size: P| -> Res<P> {
            let sys = &ENV_VAR_VALUE_SIZE;
            run_heap(&mut c, sys, name_size.get(), |heap, api, _| {
                let name = env_var_name(heap, name_src.get(), name_size.get(), sys)?;
                P::from_size(env_var_value(api, name, sys)?.len(), sys)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        ENV_VAR_VALUE_COPY.name,
        |mut c: Caller<'_, StoreData>,
         name_src: P,
         name_size: P,
         dst: P,
         offset: P,
         size: P|
         -> Res<()> {
            let sys = &ENV_VAR_VALUE_COPY;
            run_heap(
                &mut c,
                sys,
                name_size.get().saturating_add(size.get()),
                |heap, api, _| {
                    let name =
                        env_var_name(heap, name_src.get(), name_size.get(), sys)?.to_string();
                    let value = env_var_value(api, &name, sys)?;
                    copy_out(
                        heap,
                        dst.get(),
                        value.as_bytes(),
                        offset.get(),
                        size.get(),
                        sys,
                    )
                },
            )
        },
    )?;

    // Debugging aids.
    linker.func_wrap(
        "ic0",
        DEBUG_PRINT.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P| -> Res<()> {
            let (src, size) = (src.get(), size.get());
            if c.data().api.is_none() {
                return Ok(());
            }
            // The IC's logging charge (2 bytes stored, 50 transmitted per logged byte, bounded by
            // the log capacity) plus the bytes printed.
            let logged = size.min(LOG_CAPACITY);
            let len = size.min(MAX_MESSAGE);
            let cost = logged
                .saturating_mul(2 + BYTE_TRANSMISSION_COST)
                .saturating_add(len);
            run_heap(&mut c, &DEBUG_PRINT, cost, |heap, api, _| {
                // Never traps: an out-of-bounds message is replaced, as on the IC.
                let line = match read_heap(heap, src, len) {
                    Ok(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    Err(_) => "(debug message out of memory bounds)".to_string(),
                };
                api.debug_log.push(line);
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        TRAP.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P| -> Res<()> {
            let (src, size) = (src.get(), size.get());
            let len = size.min(MAX_MESSAGE);
            if c.data().api.is_some() {
                enter(&mut c, &TRAP, len).map_err(wasmtime::Error::new)?;
            }
            let message = with_heap(&mut c, |heap, _| {
                Ok(match read_heap(heap, src, len) {
                    Ok(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    Err(_) => "(trap message out of memory bounds)".to_string(),
                })
            })
            .map_err(wasmtime::Error::new)?;
            Err(wasmtime::Error::new(HostTrap::Explicit(message)))
        },
    )?;

    // The Cycles Minting Canister's functions (not in the spec).
    linker.func_wrap(
        "ic0",
        MINT_CYCLES128.name,
        |mut c: Caller<'_, StoreData>, _high: u64, _low: u64, _dst: P| -> Res<()> {
            run(&mut c, &MINT_CYCLES128, 0, |api, _| {
                Err(mint_trap(api, MINT_CYCLES128.name))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MINT_CYCLES.name,
        |mut c: Caller<'_, StoreData>, _amount: u64| -> Res<u64> {
            run(&mut c, &MINT_CYCLES, 0, |api, _| {
                Err(mint_trap(api, MINT_CYCLES.name))
            })
        },
    )?;
    Ok(())
}

/// The spec's functions that exist only when `I = i32`.
pub(super) fn link_wasm32_only(linker: &mut Linker<StoreData>) -> Res<()> {
    linker.func_wrap(
        "ic0",
        MSG_CYCLES_AVAILABLE.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            run(&mut c, &MSG_CYCLES_AVAILABLE, 0, |api, _| {
                to_u64(available(api))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MSG_CYCLES_REFUNDED.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            run(&mut c, &MSG_CYCLES_REFUNDED, 0, |api, _| {
                to_u64(api.env.cycles_refunded)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MSG_CYCLES_ACCEPT.name,
        |mut c: Caller<'_, StoreData>, max: u64| -> Res<u64> {
            // Accepts at most `max`, so the amount always fits.
            run(&mut c, &MSG_CYCLES_ACCEPT, 0, |api, _| {
                to_u64(accept(api, u128::from(max)))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CANISTER_CYCLE_BALANCE.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            run(&mut c, &CANISTER_CYCLE_BALANCE, 0, |api, _| {
                to_u64(balance(api))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CALL_CYCLES_ADD.name,
        |mut c: Caller<'_, StoreData>, amount: u64| -> Res<()> {
            run(&mut c, &CALL_CYCLES_ADD, 0, |api, _| {
                add_call_cycles(api, u128::from(amount), "call_cycles_add")
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE_SIZE.name,
        |mut c: Caller<'_, StoreData>| -> Res<u32> {
            run(&mut c, &STABLE_SIZE, 0, |_, stable| {
                let pages = check_stable32(stable)?;
                Ok(u32::try_from(pages).unwrap_or(u32::MAX))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE_GROW.name,
        |mut c: Caller<'_, StoreData>, pages: u32| -> Res<i32> {
            run(&mut c, &STABLE_GROW, 0, |api, stable| {
                let old = check_stable32(stable)?;
                if old.saturating_add(u64::from(pages)) > MAX_32_BIT_STABLE_PAGES {
                    return Ok(-1);
                }
                // `old` is at most 65536, so it fits in an i32.
                Ok(match stable.grow(u64::from(pages), api.limits.stable_max) {
                    Some(old) => i32::try_from(old).unwrap_or(-1),
                    None => -1,
                })
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE_WRITE.name,
        |mut c: Caller<'_, StoreData>, offset: u32, src: u32, size: u32| -> Res<()> {
            let (offset, src, size) = (u64::from(offset), u64::from(src), u64::from(size));
            run_stable_write(&mut c, &STABLE_WRITE, (offset, src, size), true)
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE_READ.name,
        |mut c: Caller<'_, StoreData>, dst: u32, offset: u32, size: u32| -> Res<()> {
            let (dst, offset, size) = (u64::from(dst), u64::from(offset), u64::from(size));
            run_heap(&mut c, &STABLE_READ, size, |heap, api, stable| {
                check_stable32(stable)?;
                stable_read(heap, api, stable, dst, offset, size)
            })
        },
    )?;
    Ok(())
}

/// `cost_sign_with_ecdsa`, `cost_sign_with_schnorr` and `cost_vetkd_derive_key`: the same
/// shape (a key name in the heap, a curve or algorithm, a 128-bit cost out), one fee scheme each.
fn link_cost_threshold<P: Ptr>(
    linker: &mut Linker<StoreData>,
    sys: &'static Sys,
    scheme: fees::Scheme,
) -> Res<()> {
    linker.func_wrap(
        "ic0",
        sys.name,
        move |mut c: Caller<'_, StoreData>, src: P, size: P, curve: u32, dst: P| -> Res<u32> {
            run_heap(&mut c, sys, size.get(), |heap, _, _| {
                cost_threshold(heap, src.get(), size.get(), curve, dst.get(), scheme)
            })
        },
    )?;
    Ok(())
}
